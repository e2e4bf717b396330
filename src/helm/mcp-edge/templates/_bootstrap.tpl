{{/*
The edge's Envoy v3 bootstrap: the same document `python -m mcp_edge` renders
(src/python/mcp_edge/envoy.py) from the same edge values. Takes the effective edge values
(mcp-edge.values). tests/helm/edge_test.py renders both from one values file, in several
scenarios, and fails when they differ: change the two together.
*/}}

{{/*
The SDS document the bootstrap reads the certificate from (mcp_edge.envoy.render_certificate_sds):
the Secret's files, and its folder to watch, so a renewed Secret is served without a restart.
*/}}
{{- define "mcp-edge.certificateSds" -}}
{{- $e := . }}
resources:
  - "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
    name: edge_certificate
    tls_certificate:
      certificate_chain: {filename: {{ $e.tls.certificateFile | quote }}}
      private_key: {filename: {{ $e.tls.privateKeyFile | quote }}}
      watched_directory: {path: {{ dir $e.tls.certificateFile | quote }}}
{{- end }}

{{/* "true" when the host is an IP address (IPv4, or IPv6 with its brackets stripped). */}}
{{- define "mcp-edge.isIP" -}}
{{- $octet := "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])" }}
{{- if or (regexMatch (printf "^(%s\\.){3}%s$" $octet $octet) .) (contains ":" .) }}true{{ end }}
{{- end }}

{{/* An endpoint "host:port" as {host, port}: the port after the last colon. */}}
{{- define "mcp-edge.endpoint" -}}
{{- $host := regexReplaceAll ":[^:]*$" . "" | trimPrefix "[" | trimSuffix "]" }}
{{- $port := regexReplaceAll "^.*:" . "" }}
{{- dict "host" $host "port" (int $port) | toJson }}
{{- end }}

{{- define "mcp-edge.address" -}}
socket_address:
  address: {{ .host | quote }}
  port_value: {{ int .port }}
{{- end }}

{{- define "mcp-edge.statusIs" -}}
status_code_filter:
  comparison:
    op: EQ
    value:
      default_value: {{ . }}
      runtime_key: edge_{{ . }}
{{- end }}

{{- define "mcp-edge.bootstrap" -}}
{{- $e := . }}
{{- $c := $e.clientRateLimit }}
{{- $t := "type.googleapis.com/envoy.extensions" }}
{{- $endpoints := list }}
{{- $allIPs := true }}
{{- range $e.aggregator.endpoints }}
{{- $ep := include "mcp-edge.endpoint" . | fromJson }}
{{- $endpoints = append $endpoints $ep }}
{{- if not (include "mcp-edge.isIP" $ep.host) }}{{ $allIPs = false }}{{ end }}
{{- end }}
{{- $authority := urlParse $e.authorityHost }}
{{- $jwksHost := regexReplaceAll ":[0-9]+$" $authority.host "" | trimPrefix "[" | trimSuffix "]" }}
{{- $jwksPort := 443 }}
{{- if regexMatch ":[0-9]+$" $authority.host }}{{ $jwksPort = int (regexReplaceAll "^.*:" $authority.host "") }}{{ end }}
{{- $tenant := toString $e.tenantId }}
{{- $v2 := printf "%s/%s/v2.0" (trimSuffix "/" $e.authorityHost) $tenant }}
{{- $v1 := printf "%s/%s/" (trimSuffix "/" $e.v1IssuerHost) $tenant }}
{{- $jwksUri := printf "%s/%s/discovery/v2.0/keys" (trimSuffix "/" $e.authorityHost) $tenant }}
{{- $resource := urlParse $e.resourceUrl }}
{{- $metadata := printf "resource_metadata=\"%s://%s/.well-known/oauth-protected-resource%s\"" $resource.scheme $resource.host $resource.path }}
{{- $always := dict "numerator" 100 "denominator" "HUNDRED" }}
{{- $router := dict "name" "envoy.filters.http.router" "typed_config" (dict "@type" (printf "%s.filters.http.router.v3.Router" $t)) }}
{{- $hcm := printf "%s.filters.network.http_connection_manager.v3.HttpConnectionManager" $t -}}
node:
  id: mcp-edge
  cluster: mcp-edge
admin:
  address:
    {{- include "mcp-edge.address" (dict "host" "127.0.0.1" "port" $e.adminPort) | nindent 4 }}
static_resources:
  listeners:
    - name: edge_https
      address:
        {{- include "mcp-edge.address" (dict "host" $e.listenAddress "port" $e.port) | nindent 8 }}
      per_connection_buffer_limit_bytes: 1048576
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": {{ $hcm }}
                stat_prefix: edge
                codec_type: AUTO
                use_remote_address: true
                normalize_path: true
                merge_slashes: true
                path_with_escaped_slashes_action: REJECT_REQUEST
                common_http_protocol_options:
                  headers_with_underscores_action: REJECT_REQUEST
                  idle_timeout: {{ $e.streamIdleTimeout | quote }}
                http2_protocol_options:
                  max_concurrent_streams: 100
                stream_idle_timeout: {{ $e.streamIdleTimeout | quote }}
                request_headers_timeout: {{ $e.requestHeadersTimeout | quote }}
                request_timeout: 0s
                always_set_request_id_in_response: true
                access_log:
                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": {{ $t }}.access_loggers.file.v3.FileAccessLog
                      path: {{ $e.accessLogPath | quote }}
                      log_format:
                        json_format:
                          time: "%START_TIME%"
                          request_id: "%REQ(X-REQUEST-ID)%"
                          traceparent: "%REQ(TRACEPARENT)%"
                          method: "%REQ(:METHOD)%"
                          path: "%REQ(:PATH)%"
                          protocol_version: "%REQ(MCP-PROTOCOL-VERSION)%"
                          status: "%RESPONSE_CODE%"
                          details: "%RESPONSE_CODE_DETAILS%"
                          flags: "%RESPONSE_FLAGS%"
                          upstream_host: "%UPSTREAM_HOST%"
                          attempts: "%UPSTREAM_REQUEST_ATTEMPT_COUNT%"
                          duration_ms: "%DURATION%"
                          downstream: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
                route_config:
                  name: edge
                  virtual_hosts:
                    - name: mcp
                      domains: ["*"]
                      routes:
                        - match: {path: /mcp}
                          route:
                            cluster: mcp_aggregator
                            timeout: 0s
                            retry_policy:
                              retry_on: connect-failure,refused-stream,reset-before-request
                              num_retries: 2
                              retry_host_predicate:
                                - name: envoy.retry_host_predicates.previous_hosts
                                  typed_config:
                                    "@type": {{ $t }}.retry.host.previous_hosts.v3.PreviousHostsPredicate
                              host_selection_retry_max_attempts: 5
                        - match: {prefix: /.well-known/oauth-protected-resource}
                          route: {cluster: mcp_aggregator, timeout: 10s}
                        - match: {prefix: /}
                          direct_response:
                            status: 404
                            body: {inline_string: not found}
                local_reply_config:
                  mappers:
                    - filter:
                        {{- include "mcp-edge.statusIs" 403 | nindent 24 }}
                      status_code: 401
                      headers_to_add:
                        - header:
                            key: www-authenticate
                            value: {{ printf "Bearer error=\"invalid_token\", %s" $metadata | quote }}
                          append_action: OVERWRITE_IF_EXISTS_OR_ADD
                    - filter:
                        and_filter:
                          filters:
                            - {{- include "mcp-edge.statusIs" 401 | nindent 30 }}
                            - header_filter:
                                header: {name: authorization, present_match: true}
                      headers_to_add:
                        - header:
                            key: www-authenticate
                            value: {{ printf "Bearer error=\"invalid_token\", %s" $metadata | quote }}
                          append_action: OVERWRITE_IF_EXISTS_OR_ADD
                    - filter:
                        {{- include "mcp-edge.statusIs" 401 | nindent 24 }}
                      headers_to_add:
                        - header:
                            key: www-authenticate
                            value: {{ printf "Bearer %s" $metadata | quote }}
                          append_action: OVERWRITE_IF_EXISTS_OR_ADD
                  body_format:
                    json_format:
                      error: "%RESPONSE_CODE_DETAILS%"
                      error_description: "%LOCAL_REPLY_BODY%"
                      request_id: "%REQ(X-REQUEST-ID)%"
                http_filters:
                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": {{ $t }}.filters.http.local_ratelimit.v3.LocalRateLimit
                      stat_prefix: edge_rate_limit
                      token_bucket:
                        max_tokens: {{ int $e.rateLimit.maxTokens }}
                        tokens_per_fill: {{ int $e.rateLimit.tokensPerFill }}
                        fill_interval: {{ $e.rateLimit.fillInterval | quote }}
                      {{- /* A bucket per client address (a descriptor without a value). */}}
                      descriptors:
                        - entries:
                            - key: remote_address
                          token_bucket:
                            max_tokens: {{ int $c.maxTokens }}
                            tokens_per_fill: {{ int $c.tokensPerFill }}
                            fill_interval: {{ $c.fillInterval | quote }}
                      max_dynamic_descriptors: {{ int $c.maxClients }}
                      always_consume_default_token_bucket: true
                      rate_limits:
                        - actions:
                            - remote_address: {}
                      filter_enabled:
                        default_value: {{ toJson $always }}
                        runtime_key: edge_rate_limit_enabled
                      filter_enforced:
                        default_value: {{ toJson $always }}
                        runtime_key: edge_rate_limit_enforced
                      response_headers_to_add:
                        - header:
                            key: retry-after
                            value: {{ max (ceil (trimSuffix "s" $e.rateLimit.fillInterval | float64) | int) (ceil (trimSuffix "s" $c.fillInterval | float64) | int) | toString | quote }}
                          append_action: OVERWRITE_IF_EXISTS_OR_ADD
                  - name: envoy.filters.http.jwt_authn
                    typed_config:
                      "@type": {{ $t }}.filters.http.jwt_authn.v3.JwtAuthentication
                      providers:
                        {{- range $name, $issuer := dict "entra_v2" $v2 "entra_v1" $v1 }}
                        {{ $name }}:
                          issuer: {{ $issuer | quote }}
                          audiences: {{ toJson $e.audiences }}
                          forward: true
                          remote_jwks:
                            http_uri: {uri: {{ $jwksUri | quote }}, cluster: entra_jwks, timeout: 5s}
                            cache_duration: {{ $e.jwksCacheDuration | quote }}
                            async_fetch: {fast_listener: false}
                            retry_policy:
                              num_retries: 3
                              retry_back_off: {base_interval: 0.5s, max_interval: 5s}
                          jwt_cache_config: {jwt_cache_size: 1000}
                        {{- end }}
                      rules:
                        - match: {path: /mcp}
                          requires:
                            requires_any:
                              requirements:
                                - provider_name: entra_v2
                                - provider_name: entra_v1
                      bypass_cors_preflight: true
                  - {{- toYaml $router | nindent 20 }}
          transport_socket:
            name: envoy.transport_sockets.tls
            typed_config:
              "@type": {{ $t }}.transport_sockets.tls.v3.DownstreamTlsContext
              common_tls_context:
                alpn_protocols: [h2, http/1.1]
                tls_params: {tls_minimum_protocol_version: TLSv1_2}
                tls_certificate_sds_secret_configs:
                  - name: edge_certificate
                    sds_config:
                      path_config_source: {path: {{ $e.tls.sdsConfigFile | quote }}}
                      resource_api_version: V3
    - name: edge_health
      address:
        {{- include "mcp-edge.address" (dict "host" $e.listenAddress "port" $e.healthPort) | nindent 8 }}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": {{ $hcm }}
                stat_prefix: edge_health
                route_config:
                  virtual_hosts:
                    - name: health
                      domains: ["*"]
                      routes:
                        # Envoy's statistics from the admin interface; nothing else of it.
                        - match:
                            path: /stats/prometheus
                            headers:
                              - name: :method
                                string_match: {exact: GET}
                          route: {cluster: envoy_admin}
                        - match: {prefix: /}
                          direct_response: {status: 404}
                http_filters:
                  - name: envoy.filters.http.health_check
                    typed_config:
                      "@type": {{ $t }}.filters.http.health_check.v3.HealthCheck
                      pass_through_mode: false
                      headers:
                        - name: :path
                          string_match: {exact: /ready}
                  - {{- toYaml $router | nindent 20 }}
  clusters:
    - name: mcp_aggregator
      {{- if $allIPs }}
      type: STATIC
      {{- else }}
      type: STRICT_DNS
      dns_lookup_family: V4_PREFERRED
      {{- end }}
      connect_timeout: 2s
      lb_policy: ROUND_ROBIN
      load_assignment:
        cluster_name: mcp_aggregator
        endpoints:
          - lb_endpoints:
              {{- range $endpoints }}
              - endpoint:
                  address:
                    {{- include "mcp-edge.address" . | nindent 20 }}
              {{- end }}
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": {{ $t }}.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: {http_protocol_options: {}}
          common_http_protocol_options: {idle_timeout: 4s}
      health_checks:
        - timeout: 2s
          interval: {{ $e.healthCheckInterval | quote }}
          unhealthy_threshold: 2
          healthy_threshold: 1
          http_health_check: {path: /health/ready}
      outlier_detection:
        split_external_local_origin_errors: true
        consecutive_local_origin_failure: 1
        consecutive_gateway_failure: 3
        base_ejection_time: 10s
        max_ejection_percent: 50
      circuit_breakers:
        thresholds:
          - max_connections: {{ int $e.maxConnections }}
            max_pending_requests: {{ int $e.maxConnections }}
            max_requests: {{ int $e.maxConnections }}
            max_retries: 32
    - name: entra_jwks
      {{- if include "mcp-edge.isIP" $jwksHost }}
      type: STATIC
      {{- else }}
      type: LOGICAL_DNS
      dns_lookup_family: V4_PREFERRED
      {{- end }}
      connect_timeout: 5s
      load_assignment:
        cluster_name: entra_jwks
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    {{- include "mcp-edge.address" (dict "host" $jwksHost "port" $jwksPort) | nindent 20 }}
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": {{ $t }}.transport_sockets.tls.v3.UpstreamTlsContext
          sni: {{ $jwksHost | quote }}
          common_tls_context:
            validation_context:
              trusted_ca: {filename: {{ $e.authorityCaFile | quote }}}
              {{- if not (include "mcp-edge.isIP" $jwksHost) }}
              match_typed_subject_alt_names:
                - san_type: DNS
                  matcher: {exact: {{ $jwksHost | quote }}}
              {{- end }}
    - name: envoy_admin
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: envoy_admin
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    {{- include "mcp-edge.address" (dict "host" "127.0.0.1" "port" $e.adminPort) | nindent 20 }}
overload_manager:
  resource_monitors:
    - name: envoy.resource_monitors.global_downstream_max_connections
      typed_config:
        "@type": {{ $t }}.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
        max_active_downstream_connections: 50000
{{- end }}
