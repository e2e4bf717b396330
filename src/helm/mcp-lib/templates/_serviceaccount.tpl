{{/*
The ServiceAccount. With Workload Identity it carries the managed identity's client id (and
tenant): the webhook then projects a federated token into pods labelled
azure.workload.identity/use=true. No secret: Entra ID trusts the cluster's OIDC issuer.
*/}}
{{- define "mcp-lib.serviceAccount" -}}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "mcp-lib.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "mcp-lib.labels" . | nindent 4 }}
  {{- $annotations := deepCopy .Values.serviceAccount.annotations }}
  {{- if .Values.workloadIdentity.enabled }}
  {{- $_ := set $annotations "azure.workload.identity/client-id" .Values.workloadIdentity.clientId }}
  {{- with include "mcp-lib.workloadIdentityTenant" . }}
  {{- $_ := set $annotations "azure.workload.identity/tenant-id" . }}
  {{- end }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
{{- end }}
{{- end }}
