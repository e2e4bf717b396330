{{/*
A domain MCP server's chart (users, tickets, data) is this template with its prefix: it calls
its system of record (systemOfRecord.url) or, in demo mode only, runs the embedded reference
API over its own database. Takes a dict: root, prefix (MCP_USERS), name (users).
*/}}
{{- define "mcp-lib.domainManifests" -}}
{{- $root := .root -}}
{{- $p := .prefix -}}
{{- $sor := $root.Values.systemOfRecord }}
{{- if and (not $sor.url) (not $root.Values.demo) }}
{{- fail "systemOfRecord.url is required: the base URL of the system of record's REST API (or set demo=true explicitly to run the embedded reference API over its own database)" }}
{{- end }}
{{- if and $sor.url $root.Values.demo }}
{{- fail "demo=true and systemOfRecord.url are both set: demo mode runs the embedded reference API instead of calling the system of record; choose one" }}
{{- end }}
{{- if and $sor.url $root.Values.workloadIdentity.enabled (not $sor.scope) }}
{{- fail "systemOfRecord.scope is required with Workload Identity: the Entra ID scope of the system of record's tokens, e.g. api://<app-id>/.default" }}
{{- end }}
{{- /* SQLite (the default, in /tmp) is a store per pod; PostgreSQL is shared by the replicas. */}}
{{- $ownStore := and $root.Values.demo (not $root.Values.database.existingSecret.name) (or (not $root.Values.database.url) (hasPrefix "sqlite" $root.Values.database.url)) }}
{{- if and $ownStore (or $root.Values.autoscaling.enabled (gt (int $root.Values.replicaCount) 1)) }}
{{- fail (printf "demo=true without a PostgreSQL database.url or database.existingSecret keeps the store in SQLite in each pod's /tmp, so with %s every pod would have its own records and idempotency keys: set autoscaling.enabled=false and replicaCount=1 (one pod, replaced with the Recreate strategy), or point database.url or database.existingSecret at a PostgreSQL database that the replicas share" (ternary "autoscaling.enabled=true" (printf "replicaCount=%d" (int $root.Values.replicaCount)) $root.Values.autoscaling.enabled)) }}
{{- end }}
{{- include "mcp-lib.validateIdentity" $root }}
{{- if not $root.Values.auth.allowedCallers }}
{{- fail "auth.allowedCallers is required with auth.mode=entra: the client ids that may call this server (the aggregator's managed identity)" }}
{{- end }}
{{- $env := include "mcp-lib.serverEnv" (dict "root" $root "prefix" $p) }}
{{- $env = printf "%s\n- name: %s_ALLOWED_CALLERS\n  value: %s" $env $p ($root.Values.auth.allowedCallers | toJson | quote) }}
{{- if $root.Values.demo }}
{{- $env = printf "%s\n- name: %s_DEMO\n  value: \"true\"" $env $p }}
{{- with $root.Values.database.existingSecret.name }}
{{- $env = printf "%s\n- name: %s_DATABASE_URL\n  valueFrom:\n    secretKeyRef: {name: %s, key: %s}" $env $p (. | quote) ($root.Values.database.existingSecret.key | quote) }}
{{- else }}
{{- $url := default (printf "sqlite+aiosqlite:////tmp/%s.sqlite3" .name) $root.Values.database.url }}
{{- $env = printf "%s\n- name: %s_DATABASE_URL\n  value: %s" $env $p ($url | quote) }}
{{- end }}
{{- else }}
{{- $env = printf "%s\n- name: %s_API_URL\n  value: %s" $env $p ($sor.url | quote) }}
{{- with $sor.scope }}
{{- $env = printf "%s\n- name: %s_API_SCOPE\n  value: %s" $env $p (. | quote) }}
{{- end }}
{{- $env = printf "%s\n- name: %s_API_TIMEOUT_SECONDS\n  value: %s" $env $p ($sor.timeoutSeconds | toString | quote) }}
{{- $env = printf "%s\n- name: %s_API_RETRIES\n  value: %s" $env $p ($sor.retries | toString | quote) }}
{{- end }}
{{ include "mcp-lib.serviceAccount" $root }}
---
{{ include "mcp-lib.service" $root }}
---
{{ include "mcp-lib.deployment" (dict "root" $root "env" $env "recreate" $ownStore) }}
{{- with include "mcp-lib.hpa" $root }}
---
{{ . }}
{{- end }}
{{- with include "mcp-lib.pdb" $root }}
---
{{ . }}
{{- end }}
{{- with include "mcp-lib.networkPolicy" $root }}
---
{{ . }}
{{- end }}
{{- with include "mcp-lib.serviceMonitor" $root }}
---
{{ . }}
{{- end }}
{{- end }}
