{{/*
The check, as one Job: `mcp-client validate` (every tool's name and schemas) as an init
container, then `mcp-client contract` against the published contract, so a failure of
either fails the Job and names the step. No shell: the image has none to rely on.
*/}}
{{- define "mcp-client.jobSpec" -}}
{{- $env := list
  (dict "name" "MCP_SERVER_URL" "value" .Values.server.url)
  (dict "name" "MCP_PROTOCOL" "value" .Values.server.protocol)
  (dict "name" "DISCOVERY_TIMEOUT" "value" (toString .Values.server.discoveryTimeoutSeconds))
  (dict "name" "CALL_TIMEOUT" "value" (toString .Values.server.callTimeoutSeconds))
  (dict "name" "MCP_CREDENTIAL" "value" .Values.auth.credential) }}
{{- with .Values.auth.tokenScope }}
{{- $env = append $env (dict "name" "MCP_TOKEN_SCOPE" "value" .) }}
{{- end }}
{{- $env = toYaml $env }}
{{- $validate := include "mcp-lib.container" (dict "root" . "name" "validate" "args" (list "validate") "env" $env) }}
{{- $containers := $validate }}
{{- $init := "" }}
{{- $volumes := "" }}
{{- if .Values.contract.enabled }}
{{- $init = $validate }}
{{- $mounts := toYaml (list (dict "name" "contract" "mountPath" "/etc/mcp/contract" "readOnly" true)) }}
{{- $containers = include "mcp-lib.container" (dict "root" . "name" "contract" "args" (list "contract" "/etc/mcp/contract/contract.json") "env" $env "volumeMounts" $mounts) }}
{{- $volumes = toYaml (list (dict "name" "contract" "configMap" (dict "name" (printf "%s-contract" (include "mcp-lib.fullname" .))))) }}
{{- end }}
backoffLimit: {{ .Values.backoffLimit }}
activeDeadlineSeconds: {{ .Values.activeDeadlineSeconds }}
template:
  metadata:
    labels:
      {{- include "mcp-lib.podLabels" . | nindent 6 }}
    {{- with .Values.podAnnotations }}
    annotations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  spec:
    {{- include "mcp-lib.podSpec" (dict "root" . "containers" $containers "initContainers" $init "volumes" $volumes "restartPolicy" "Never") | nindent 4 }}
{{- end }}
