{{/*
The upstream registry: an Envoy v3 bootstrap whose static_resources.clusters are the values'
upstreams (mcp_aggregator/config.py reads it; `envoy --mode validate` accepts it).
*/}}
{{- define "mcp-aggregator.registry" -}}
{{- $clusters := list }}
{{- range $name, $u := .Values.upstreams }}
{{- $meta := dict "path" (default "/mcp" $u.path) }}
{{- with $u.scope }}{{ $_ := set $meta "scope" . }}{{ end }}
{{- with $u.toolPrefix }}{{ $_ := set $meta "tool_prefix" . }}{{ end }}
{{- with $u.callTimeout }}{{ $_ := set $meta "call_timeout" . }}{{ end }}
{{- with $u.listTimeout }}{{ $_ := set $meta "list_timeout" . }}{{ end }}
{{- if hasKey $u "retries" }}{{ $_ := set $meta "retries" (int $u.retries) }}{{ end }}
{{- with $u.sessions }}{{ $_ := set $meta "sessions" . }}{{ end }}
{{- $endpoint := dict "address" (dict "socket_address" (dict "address" $u.host "port_value" (int $u.port))) }}
{{- $cluster := dict "name" $name "connect_timeout" (default "2s" $u.connectTimeout) }}
{{- $_ := set $cluster "type" (ternary "STATIC" "STRICT_DNS" (regexMatch "^[0-9.]+$|:" $u.host)) }}
{{- $_ := set $cluster "load_assignment" (dict "cluster_name" $name "endpoints" (list (dict "lb_endpoints" (list (dict "endpoint" $endpoint))))) }}
{{- if $u.tls }}
{{- $tls := dict "@type" "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext" "sni" $u.host }}
{{- $_ := set $cluster "transport_socket" (dict "name" "envoy.transport_sockets.tls" "typed_config" $tls) }}
{{- end }}
{{- $_ := set $cluster "metadata" (dict "filter_metadata" (dict "mcp.aggregator" $meta)) }}
{{- $clusters = append $clusters $cluster }}
{{- end }}
{{- dict "static_resources" (dict "clusters" $clusters) | toYaml }}
{{- end }}

{{/* The per-tool policy (mcp_aggregator/policy.py). */}}
{{- define "mcp-aggregator.policy" -}}
{{- $policy := dict "default" .Values.policy.default "tools" .Values.policy.tools }}
{{- with .Values.policy.prompts }}{{ $_ := set $policy "prompts" . }}{{ end }}
{{- with .Values.policy.resources }}{{ $_ := set $policy "resources" . }}{{ end }}
{{- toYaml $policy }}
{{- end }}
