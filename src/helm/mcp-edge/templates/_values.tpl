{{/*
The effective edge values: .Values.envoy plus what the pod fixes (where it listens, where the
TLS Secret is mounted, where the access log goes) and the aggregator's endpoint. This is the
input of `python -m mcp_edge`; the ConfigMap carries it beside the bootstrap it renders.
*/}}
{{- define "mcp-edge.values" -}}
{{- $e := deepCopy .Values.envoy }}
{{- $namespace := default .Release.Namespace .Values.aggregator.namespace }}
{{- $endpoint := printf "%s.%s.svc.cluster.local:%d" .Values.aggregator.service $namespace (int .Values.aggregator.port) }}
{{- $_ := set $e "aggregator" (dict "endpoints" (list $endpoint)) }}
{{- $_ = set $e "listenAddress" "0.0.0.0" }}
{{- $_ = set $e "tls" (dict "certificateFile" "/etc/envoy/tls/tls.crt" "privateKeyFile" "/etc/envoy/tls/tls.key" "sdsConfigFile" "/etc/envoy/bootstrap/certificate-sds.yaml") }}
{{- $_ = set $e "accessLogPath" "/dev/stdout" }}
{{- toYaml $e }}
{{- end }}

{{/* Refuse values the edge cannot run with, naming the value to set. */}}
{{- define "mcp-edge.validate" -}}
{{- $e := .Values.envoy }}
{{- if not $e.tenantId }}
{{- fail "envoy.tenantId is required: the Entra ID tenant (directory) id whose tokens the edge accepts" }}
{{- end }}
{{- if not $e.audiences }}
{{- fail "envoy.audiences is required: the MCP API's client id and/or App ID URI (the aggregator's auth.audiences)" }}
{{- end }}
{{- if not $e.resourceUrl }}
{{- fail "envoy.resourceUrl is required: the public MCP URL clients use, e.g. https://mcp.example.com/mcp (the aggregator's auth.resourceUrl)" }}
{{- end }}
{{- if not .Values.tls.secretName }}
{{- fail "tls.secretName is required: an existing kubernetes.io/tls Secret with tls.crt and tls.key, or the one tls.certificate.create makes cert-manager write" }}
{{- end }}
{{- $certificate := .Values.tls.certificate }}
{{- if and $certificate.create (not $certificate.issuerRef.name) }}
{{- fail "tls.certificate.issuerRef.name is required with tls.certificate.create: the cert-manager Issuer or ClusterIssuer that signs the edge's certificate" }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds (%d): the grace period counts the preStop sleep, and Envoy needs time after it to drain" (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) }}
{{- end }}
{{- $ports := list (int $e.port) (int $e.healthPort) (int $e.adminPort) }}
{{- if ne (len ($ports | uniq)) 3 }}
{{- fail (printf "envoy.port (%d), envoy.healthPort (%d) and envoy.adminPort (%d) must differ" (int $e.port) (int $e.healthPort) (int $e.adminPort)) }}
{{- end }}
{{- end }}

{{/* Pod labels: the selector labels and podLabels. */}}
{{- define "mcp-edge.podLabels" -}}
{{ include "mcp-lib.selectorLabels" . }}
{{- with .Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The Envoy container. */}}
{{- define "mcp-edge.container" -}}
- name: envoy
  image: {{ include "mcp-lib.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: [/usr/local/bin/envoy]
  args:
    - --config-path
    - /etc/envoy/bootstrap/envoy.yaml
    # No shared memory for a hot restart: a pod is replaced, never restarted in place.
    - --disable-hot-restart
    - --concurrency
    - {{ .Values.concurrency | quote }}
    - --log-level
    - {{ .Values.logLevel }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  ports:
    - name: https
      containerPort: {{ .Values.envoy.port }}
      protocol: TCP
    - name: health
      containerPort: {{ .Values.envoy.healthPort }}
      protocol: TCP
  startupProbe:
    httpGet: {path: /ready, port: health}
    {{- toYaml .Values.probes.startup | nindent 4 }}
  livenessProbe:
    tcpSocket: {port: health}
    {{- toYaml .Values.probes.liveness | nindent 4 }}
  readinessProbe:
    httpGet: {path: /ready, port: health}
    {{- toYaml .Values.probes.readiness | nindent 4 }}
  {{- if .Values.preStopSleepSeconds }}
  lifecycle:
    preStop:
      sleep: {seconds: {{ .Values.preStopSleepSeconds }}}
  {{- end }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    # Directories, not subPath: a renewed certificate reaches the pod's files.
    - name: bootstrap
      mountPath: /etc/envoy/bootstrap
      readOnly: true
    - name: tls
      mountPath: /etc/envoy/tls
      readOnly: true
{{- end }}

{{/* The names of the edge's certificate: tls.certificate.dnsNames, else the host of envoy.resourceUrl. */}}
{{- define "mcp-edge.dnsNames" -}}
{{- $names := .Values.tls.certificate.dnsNames }}
{{- if not $names }}
{{- $names = list (urlParse .Values.envoy.resourceUrl).hostname }}
{{- end }}
{{- toYaml $names }}
{{- end }}
