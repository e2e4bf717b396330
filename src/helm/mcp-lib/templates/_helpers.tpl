{{/*
Names and labels, in the prometheus-community style. Every template here takes the parent
chart's root context (`.`) unless it says otherwise.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "mcp-lib.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: fullnameOverride, else the release name when it
already contains the chart name (`helm install mcp-users ...` gives `mcp-users`), else both.
*/}}
{{- define "mcp-lib.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "mcp-lib.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "mcp-lib.labels" -}}
helm.sh/chart: {{ include "mcp-lib.chart" . }}
{{ include "mcp-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mcp-platform
{{- end }}

{{/* Selector labels: stable across upgrades, so no chart version in them. */}}
{{- define "mcp-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-lib.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount's name. */}}
{{- define "mcp-lib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mcp-lib.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag (tag defaults to the chart's appVersion), or repository@digest. */}}
{{- define "mcp-lib.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The tenant of the workload identity: its own, else the inbound auth tenant. */}}
{{- define "mcp-lib.workloadIdentityTenant" -}}
{{- default (dig "tenantId" "" (.Values.auth | default dict)) .Values.workloadIdentity.tenantId }}
{{- end }}

{{/*
Host headers the MCP endpoint accepts: the Service's DNS names in every form a client in the
cluster may use, plus extraAllowedHosts. JSON, as pydantic-settings reads a list.
*/}}
{{- define "mcp-lib.allowedHosts" -}}
{{- $name := include "mcp-lib.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list (printf "%s:*" $name) (printf "%s.%s:*" $name $ns) (printf "%s.%s.svc:*" $name $ns) (printf "%s.%s.svc.cluster.local:*" $name $ns) }}
{{- concat $hosts .Values.extraAllowedHosts | toJson }}
{{- end }}
