{{/*
What every MCP server (the domains and the aggregator) renders: settings as environment
variables, a Deployment, a Service, a HorizontalPodAutoscaler and a PodDisruptionBudget.
*/}}

{{/*
Refuse values the server would refuse at start, naming the value to set. Inbound auth=none
is allowed by the servers only on a loopback address, and a pod listens on 0.0.0.0.
*/}}
{{- define "mcp-lib.validateIdentity" -}}
{{- if ne .Values.auth.mode "entra" }}
{{- fail "auth.mode=none: the servers allow no authentication only on a loopback address, and in a pod they listen on 0.0.0.0; set auth.mode=entra with auth.tenantId and auth.audiences" }}
{{- end }}
{{- if not .Values.auth.tenantId }}
{{- fail "auth.tenantId is required with auth.mode=entra: the Entra ID tenant (directory) id" }}
{{- end }}
{{- if not .Values.auth.audiences }}
{{- fail "auth.audiences is required with auth.mode=entra: this API's client id and/or App ID URI" }}
{{- end }}
{{- if and .Values.auth.onBehalfOf (not .Values.workloadIdentity.enabled) }}
{{- fail "auth.onBehalfOf needs workloadIdentity.enabled: the on-behalf-of exchange is authenticated by the workload identity's federated token" }}
{{- end }}
{{- if and .Values.workloadIdentity.enabled (not .Values.workloadIdentity.clientId) }}
{{- fail "workloadIdentity.clientId is required with workloadIdentity.enabled: the client id of the managed identity federated with this ServiceAccount" }}
{{- end }}
{{- end }}

{{/*
The settings every server shares (mcp_common.settings.ServiceSettings). Takes a dict: root,
prefix (MCP_USERS, MCP_AGGREGATOR, ...).
*/}}
{{- define "mcp-lib.serverEnv" -}}
{{- $root := .root -}}
{{- $p := .prefix -}}
- name: {{ $p }}_HOST
  value: 0.0.0.0
- name: {{ $p }}_PORT
  value: {{ $root.Values.service.port | quote }}
- name: {{ $p }}_LOG_LEVEL
  value: {{ $root.Values.logging.level }}
- name: {{ $p }}_LOG_FORMAT
  value: {{ $root.Values.logging.format }}
{{- with $root.Values.otlpEndpoint }}
- name: {{ $p }}_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $root.Values.rateLimit }}
{{- if .perSecond }}
- name: {{ $p }}_RATE_LIMIT_PER_SECOND
  value: {{ .perSecond | quote }}
- name: {{ $p }}_RATE_LIMIT_BURST
  value: {{ .burst | quote }}
{{- end }}
{{- end }}
- name: {{ $p }}_ALLOWED_HOSTS
  value: {{ include "mcp-lib.allowedHosts" $root | quote }}
- name: {{ $p }}_AUTH
  value: {{ $root.Values.auth.mode }}
- name: {{ $p }}_TENANT_ID
  value: {{ $root.Values.auth.tenantId | quote }}
- name: {{ $p }}_AUDIENCES
  value: {{ $root.Values.auth.audiences | toJson | quote }}
- name: {{ $p }}_AUTHORITY_HOST
  value: {{ $root.Values.auth.authorityHost | quote }}
- name: {{ $p }}_CREDENTIAL
  value: {{ ternary "workload_identity" "none" $root.Values.workloadIdentity.enabled }}
{{- if $root.Values.auth.onBehalfOf }}
- name: {{ $p }}_ON_BEHALF_OF
  value: "true"
{{- end }}
{{- end }}

{{/*
The Deployment. Takes a dict: root, env (YAML list), volumes and volumeMounts (YAML lists,
optional), podAnnotations (dict, optional, merged over the podAnnotations value), recreate
(bool: the Recreate strategy instead of a rolling update).
*/}}
{{- define "mcp-lib.deployment" -}}
{{- $root := .root -}}
{{- if le (int $root.Values.terminationGracePeriodSeconds) (int $root.Values.preStopSleepSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds (%d): the grace period counts the preStop sleep, and the server needs time after it to finish its requests" (int $root.Values.terminationGracePeriodSeconds) (int $root.Values.preStopSleepSeconds)) }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mcp-lib.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "mcp-lib.labels" $root | nindent 4 }}
spec:
  {{- if not $root.Values.autoscaling.enabled }}
  replicas: {{ $root.Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "mcp-lib.selectorLabels" $root | nindent 6 }}
  strategy:
    {{- if .recreate }}
    {{- /* One pod with its own store: never two at once, each with records of its own. */}}
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- end }}
  template:
    metadata:
      labels:
        {{- include "mcp-lib.podLabels" $root | nindent 8 }}
      {{- with merge (deepCopy (.podAnnotations | default dict)) $root.Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- $container := include "mcp-lib.container" (dict "root" $root "name" (include "mcp-lib.name" $root) "env" .env "port" $root.Values.service.port "volumeMounts" .volumeMounts) }}
      {{- include "mcp-lib.podSpec" (dict "root" $root "containers" $container "volumes" .volumes "spread" true) | nindent 6 }}
{{- end }}

{{- define "mcp-lib.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "mcp-lib.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mcp-lib.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "mcp-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
{{- end }}

{{- define "mcp-lib.hpa" -}}
{{- if .Values.autoscaling.enabled }}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%v) exceeds autoscaling.maxReplicas (%v)" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "mcp-lib.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mcp-lib.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "mcp-lib.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
    {{- with .Values.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
{{- end }}

{{- define "mcp-lib.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "mcp-lib.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mcp-lib.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "mcp-lib.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
A NetworkPolicy under which only the aggregator's pods (and extraIngress) reach this server.
*/}}
{{- define "mcp-lib.networkPolicy" -}}
{{- if .Values.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "mcp-lib.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mcp-lib.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "mcp-lib.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              {{- toYaml .Values.networkPolicy.aggregator.podSelector | nindent 14 }}
          {{- with .Values.networkPolicy.aggregator.namespaceSelector }}
          namespaceSelector:
            matchLabels:
              {{- toYaml . | nindent 14 }}
          {{- end }}
      ports:
        - port: http
          protocol: TCP
    {{- with .Values.networkPolicy.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end }}

{{/*
A ServiceMonitor (Prometheus Operator) scraping /metrics on the Service's http port, off by
default. It selects the chart's Service by its selector labels; a Service that carries the
mcp-platform/headless label (the aggregator's second, headless one, over the same pods) is
left out, so each pod is scraped once. The job label is the Service's name.
*/}}
{{- define "mcp-lib.serviceMonitor" -}}
{{- with .Values.serviceMonitor }}
{{- if .enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "mcp-lib.fullname" $ }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "mcp-lib.labels" $ | nindent 4 }}
    {{- with .labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "mcp-lib.selectorLabels" $ | nindent 6 }}
    matchExpressions:
      - key: mcp-platform/headless
        operator: DoesNotExist
  namespaceSelector:
    matchNames:
      - {{ $.Release.Namespace }}
  endpoints:
    - port: http
      path: /metrics
      scheme: http
      {{- with .interval }}
      interval: {{ . }}
      {{- end }}
      {{- with .scrapeTimeout }}
      scrapeTimeout: {{ . }}
      {{- end }}
      {{- with .relabelings }}
      relabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .metricRelabelings }}
      metricRelabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end }}
{{- end }}
