{{/*
Pods, hardened by default: non-root UID/GID 1000, read-only root file system with an
emptyDir /tmp (the only writable path), no privilege escalation, every capability dropped,
RuntimeDefault seccomp, no Kubernetes API token unless asked for. Workload Identity's
webhook projects its own token volume, so it needs no service-account token automount.
*/}}

{{/* Pod labels: the selector labels, Workload Identity's opt-in, podLabels. */}}
{{- define "mcp-lib.podLabels" -}}
{{ include "mcp-lib.selectorLabels" . }}
{{- if .Values.workloadIdentity.enabled }}
azure.workload.identity/use: "true"
{{- end }}
{{- with .Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
One container. Takes a dict: root (the chart's `.`), name, args (list), env (YAML list of
EnvVar), port (0: none, and no probes), volumeMounts (YAML list, optional).
*/}}
{{- define "mcp-lib.container" -}}
{{- $root := .root -}}
- name: {{ .name }}
  image: {{ include "mcp-lib.image" $root | quote }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  {{- with .args }}
  args:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.securityContext | nindent 4 }}
  {{- if .port }}
  ports:
    - name: http
      containerPort: {{ .port }}
      protocol: TCP
  {{- end }}
  env:
    {{- .env | nindent 4 }}
    {{- with $root.Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if .port }}
  {{- with $root.Values.probes }}
  startupProbe:
    httpGet: {path: /health/live, port: http}
    {{- toYaml .startup | nindent 4 }}
  livenessProbe:
    httpGet: {path: /health/live, port: http}
    {{- toYaml .liveness | nindent 4 }}
  readinessProbe:
    httpGet: {path: /health/ready, port: http}
    {{- toYaml .readiness | nindent 4 }}
  {{- end }}
  {{- end }}
  {{- if and .port $root.Values.preStopSleepSeconds }}
  {{- /*
  uvicorn closes its socket at SIGTERM, while the endpoint may still be listed for a few
  seconds until every kube-proxy, Envoy and caller's pool has seen it go: wait first.
  */}}
  lifecycle:
    preStop:
      sleep: {seconds: {{ $root.Values.preStopSleepSeconds }}}
  {{- end }}
  resources:
    {{- toYaml $root.Values.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- with .volumeMounts }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
A pod spec. Takes a dict: root, containers (YAML list from mcp-lib.container),
initContainers (optional, likewise), volumes (YAML list, optional), restartPolicy (optional),
spread (bool: topology spread across zones and nodes).
*/}}
{{- define "mcp-lib.podSpec" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "mcp-lib.serviceAccountName" $root }}
automountServiceAccountToken: {{ $root.Values.serviceAccount.automountToken }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
{{- with .initContainers }}
initContainers:
  {{- . | nindent 2 }}
{{- end }}
containers:
  {{- .containers | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ $root.Values.tmpSizeLimit }}
  {{- with .volumes }}
  {{- . | nindent 2 }}
  {{- end }}
{{- if and .spread $root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - topologyKey: {{ $key }}
    maxSkew: {{ $root.Values.topologySpread.maxSkew }}
    {{- if eq $key "kubernetes.io/hostname" }}
    whenUnsatisfiable: ScheduleAnyway
    {{- else }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
    {{- end }}
    labelSelector:
      matchLabels:
        {{- include "mcp-lib.selectorLabels" $root | nindent 8 }}
    matchLabelKeys: [pod-template-hash]
  {{- end }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
