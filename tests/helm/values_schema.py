"""The charts' values.schema.json files, built from one set of definitions.

Why generated: the four server charts share most of their values, and four hand-kept copies
of the same JSON Schema drift. Every object is closed (`additionalProperties: false`), so a
misspelt key is refused by `helm install` naming it; numbers carry ranges and choices enums.

    ./pants run tests/helm:schemas     # rewrite src/helm/*/values.schema.json

`schemas_test.py` fails when a committed schema differs from what this module builds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

GUID_OR_EMPTY = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
HTTP_URL = "^https?://[^\\s]+$"
HTTP_URL_OR_EMPTY = "^(https?://[^\\s]+)?$"
DURATION = "^[0-9]+(\\.[0-9]+)?s$"
QUANTITY = "^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
DNS_LABEL = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
# A Kubernetes label key (an optional DNS-subdomain prefix, then a name) and value.
LABEL_KEY = (
    "^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = "^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
# The aggregator's upstream names (mcp_aggregator.config._UPSTREAM_NAME).
UPSTREAM_NAME = "^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$"


def obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    return schema


def string(pattern: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if pattern is not None:
        schema["pattern"] = pattern
    return schema


def integer(minimum: int, maximum: int) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def strings(**extra: Any) -> Schema:
    return {"type": "array", "items": {"type": "string", "minLength": 1}, **extra}


BOOLEAN: Schema = {"type": "boolean"}
STRING_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECTS: Schema = {"type": "array", "items": {"type": "object"}}
QUANTITY_VALUE: Schema = {
    "anyOf": [{"type": "string", "pattern": QUANTITY}, {"type": "number", "minimum": 0}]
}


def image() -> Schema:
    return obj(
        {
            "repository": string(minLength=1),
            "tag": string("^[A-Za-z0-9_.-]{0,128}$"),
            "digest": string("^(sha256:[a-f0-9]{64})?$"),
            "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
        },
        ["repository"],
    )


def names() -> dict[str, Schema]:
    return {
        "nameOverride": string("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$"),
        "fullnameOverride": string("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$"),
        "image": image(),
        "imagePullSecrets": {"type": "array", "items": string(DNS_LABEL)},
    }


def workload_identity() -> Schema:
    return obj(
        {
            "enabled": BOOLEAN,
            "clientId": string(GUID_OR_EMPTY),
            "tenantId": string(GUID_OR_EMPTY),
        }
    )


def service_account() -> Schema:
    return obj(
        {
            "create": BOOLEAN,
            "name": string("^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$"),
            "annotations": STRING_MAP,
            "automountToken": BOOLEAN,
        }
    )


def resources() -> Schema:
    amounts = obj({"cpu": QUANTITY_VALUE, "memory": QUANTITY_VALUE})
    return obj({"requests": amounts, "limits": amounts}, ["requests", "limits"])


def security() -> dict[str, Schema]:
    seccomp = obj(
        {
            "type": {"enum": ["RuntimeDefault", "Localhost", "Unconfined"]},
            "localhostProfile": string(),
        },
        ["type"],
    )
    ids = {
        "runAsNonRoot": BOOLEAN,
        "runAsUser": integer(0, 2147483647),
        "runAsGroup": integer(0, 2147483647),
    }
    return {
        "podSecurityContext": obj(
            {
                **ids,
                "fsGroup": integer(0, 2147483647),
                "fsGroupChangePolicy": {"enum": ["OnRootMismatch", "Always"]},
                "supplementalGroups": {"type": "array", "items": integer(0, 2147483647)},
                "seccompProfile": seccomp,
            }
        ),
        "securityContext": obj(
            {
                **ids,
                "readOnlyRootFilesystem": BOOLEAN,
                "allowPrivilegeEscalation": BOOLEAN,
                "privileged": BOOLEAN,
                "capabilities": obj({"drop": strings(), "add": strings()}),
                "seccompProfile": seccomp,
            }
        ),
        "tmpSizeLimit": string(QUANTITY),
    }


def pod_placement() -> dict[str, Schema]:
    env_var = obj(
        {
            "name": string("^[A-Za-z_][A-Za-z0-9_]*$"),
            "value": string(),
            "valueFrom": {"type": "object"},
        },
        ["name"],
    )
    return {
        "extraEnv": {"type": "array", "items": env_var},
        "terminationGracePeriodSeconds": integer(0, 3600),
        "podAnnotations": STRING_MAP,
        "podLabels": STRING_MAP,
        "nodeSelector": STRING_MAP,
        "tolerations": OBJECTS,
        "affinity": {"type": "object"},
    }


def auth(*, domain: bool) -> Schema:
    properties: dict[str, Schema] = {
        "mode": {"enum": ["entra", "none"]},
        "tenantId": string(GUID_OR_EMPTY),
        "audiences": strings(),
        "authorityHost": string("^https://[^\\s/]+/?$"),
        "onBehalfOf": {"type": "boolean"},
    }
    if domain:
        properties["allowedCallers"] = strings()
    else:
        properties["resourceUrl"] = string(HTTP_URL_OR_EMPTY)
        properties["scopesSupported"] = strings()
    return obj(properties)


# A NetworkPolicyPeer (podSelector, namespaceSelector or ipBlock).
PEER: Schema = {"type": "object", "minProperties": 1}
# HTTPS egress to the Entra ID authority, by address (a NetworkPolicy cannot name a host).
AUTHORITY_CIDRS: Schema = {
    "type": "array",
    "minItems": 1,
    "items": obj(
        {"cidr": string("^[0-9a-fA-F.:]+/[0-9]{1,3}$"), "except": strings()},
        ["cidr"],
    ),
}

PROBE = obj(
    {
        "initialDelaySeconds": integer(0, 600),
        "periodSeconds": integer(1, 300),
        "timeoutSeconds": integer(1, 60),
        "failureThreshold": integer(1, 100),
        "successThreshold": integer(1, 1),
    }
)
"""One kubelet probe's timing, as every chart's `probes.<startup|liveness|readiness>` takes it."""


# A Prometheus duration, as the Prometheus Operator takes it: 30s, 1m, 1m30s.
PROM_DURATION = "^(([0-9]+(ms|s|m|h|d|w|y))+)?$"
SERVICE_MONITOR = obj(
    {
        "enabled": BOOLEAN,
        "labels": STRING_MAP,
        "interval": string(PROM_DURATION),
        "scrapeTimeout": string(PROM_DURATION),
        "relabelings": OBJECTS,
        "metricRelabelings": OBJECTS,
    }
)
"""The optional ServiceMonitor of each server chart (`mcp-lib.serviceMonitor`)."""


def server(*, domain: bool) -> dict[str, Schema]:
    properties: dict[str, Schema] = {
        **names(),
        "auth": auth(domain=domain),
        "workloadIdentity": workload_identity(),
        "serviceAccount": service_account(),
        "service": obj(
            {
                "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                "port": integer(1, 65535),
            },
            ["port"],
        ),
        "replicaCount": integer(1, 100),
        "autoscaling": obj(
            {
                "enabled": BOOLEAN,
                "minReplicas": integer(1, 100),
                "maxReplicas": integer(1, 100),
                "targetCPUUtilizationPercentage": integer(1, 100),
                "targetMemoryUtilizationPercentage": integer(1, 100),
            }
        ),
        "podDisruptionBudget": obj(
            {
                "enabled": BOOLEAN,
                "maxUnavailable": {"anyOf": [integer(0, 100), string("^[0-9]{1,2}%$|^100%$")]},
            }
        ),
        "topologySpread": obj(
            {
                "enabled": BOOLEAN,
                "maxSkew": integer(1, 10),
                "whenUnsatisfiable": {"enum": ["ScheduleAnyway", "DoNotSchedule"]},
            }
        ),
        "resources": resources(),
        **security(),
        "probes": obj({"startup": PROBE, "liveness": PROBE, "readiness": PROBE}),
        "logging": obj(
            {
                "level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
                "format": {"enum": ["json", "text"]},
            }
        ),
        "otlpEndpoint": string(HTTP_URL_OR_EMPTY),
        "extraAllowedHosts": {"type": "array", "items": string("^[^\\s/]+:([0-9]+|\\*)$")},
        # mcp_common.settings: rate_limit_per_second > 0 (0 here: off), burst 1..100000.
        "rateLimit": obj(
            {
                "perSecond": {"type": "number", "minimum": 0, "maximum": 1_000_000},
                "burst": integer(1, 100_000),
            }
        ),
        "preStopSleepSeconds": integer(0, 120),
        "serviceMonitor": SERVICE_MONITOR,
        **pod_placement(),
    }
    if domain:
        properties["demo"] = BOOLEAN
        properties["systemOfRecord"] = obj(
            {
                "url": string(HTTP_URL_OR_EMPTY),
                "scope": string("^[^\\s]*$"),
                "timeoutSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
                "retries": integer(0, 5),
            }
        )
        properties["database"] = obj(
            {
                # A password belongs in a Secret (existingSecret), never in a value.
                "url": {
                    "type": "string",
                    "pattern": "^((sqlite\\+aiosqlite|postgresql\\+asyncpg)://.*)?$",
                    "not": {"pattern": "://[^/@]*:[^/@]*@"},
                },
                "existingSecret": obj(
                    {"name": string("^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$"), "key": string()}
                ),
            }
        )
        properties["networkPolicy"] = obj(
            {
                "enabled": BOOLEAN,
                "aggregator": obj(
                    {
                        "podSelector": {**STRING_MAP, "minProperties": 1},
                        "namespaceSelector": STRING_MAP,
                    }
                ),
                "extraIngress": OBJECTS,
            }
        )
    else:
        properties.update(aggregator_only())
    return properties


def aggregator_only() -> dict[str, Schema]:
    upstream = obj(
        {
            "host": string("^[^\\s/:]+$|^\\[[0-9a-fA-F:]+\\]$", minLength=1),
            "port": integer(1, 65535),
            "path": string("^/"),
            "scope": string("^[^\\s]*$"),
            "toolPrefix": string("^[A-Za-z0-9_.-]{0,64}$"),
            "connectTimeout": string(DURATION),
            "callTimeout": string(DURATION),
            "listTimeout": string(DURATION),
            "retries": integer(0, 5),
            "tls": BOOLEAN,
            "sessions": {"enum": ["per-client", "shared"]},
        },
        ["host", "port"],
    )
    rule = {
        "anyOf": [
            {"enum": ["authenticated", "deny"]},
            obj({"roles": strings(), "scopes": strings()}),
        ]
    }
    rules: Schema = {"type": "object", "additionalProperties": rule}
    return {
        "prometheusRule": obj(
            {
                "enabled": BOOLEAN,
                "labels": STRING_MAP,
                "alertLabels": STRING_MAP,
                "runbookUrl": string(HTTP_URL_OR_EMPTY),
            }
        ),
        "grafanaDashboards": obj(
            {
                "enabled": BOOLEAN,
                "label": string(LABEL_KEY),
                "labelValue": string(LABEL_VALUE),
                "namespace": string("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$"),
                "labels": STRING_MAP,
                "annotations": STRING_MAP,
            }
        ),
        "upstreams": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": UPSTREAM_NAME},
            "additionalProperties": upstream,
        },
        "registry": obj(
            {
                "readinessPolicy": {"enum": ["any", "all"]},
                "reloadIntervalSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
            }
        ),
        "sessionKeys": obj(
            {
                "create": BOOLEAN,
                "existingSecret": string("^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$"),
            }
        ),
        "networkPolicy": obj(
            {
                "enabled": BOOLEAN,
                "ingressFrom": {"type": "array", "minItems": 1, "items": PEER},
                "metricsFrom": {"type": "array", "items": PEER},
                "upstreamPeers": {"type": "array", "minItems": 1, "items": PEER},
                "authorityCidrs": AUTHORITY_CIDRS,
                "dnsPodLabels": {**STRING_MAP, "minProperties": 1},
                "extraIngress": OBJECTS,
                "extraEgress": OBJECTS,
            }
        ),
        "policy": obj(
            {
                "enabled": BOOLEAN,
                "default": {"enum": ["deny", "authenticated"]},
                "tools": rules,
                "prompts": rules,
                "resources": rules,
            }
        ),
    }


def client() -> dict[str, Schema]:
    return {
        **names(),
        "server": obj(
            {
                "url": string(HTTP_URL),
                "protocol": {"enum": ["auto", "legacy", "2026-07-28"]},
                "discoveryTimeoutSeconds": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 600,
                },
                "callTimeoutSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
            },
            ["url"],
        ),
        "auth": obj(
            {
                "credential": {"enum": ["none", "workload_identity"]},
                "tokenScope": string("^[^\\s]*$"),
            }
        ),
        "workloadIdentity": workload_identity(),
        "serviceAccount": service_account(),
        "contract": obj({"enabled": BOOLEAN}),
        "test": obj({"enabled": BOOLEAN}),
        "cronJob": obj(
            {
                "enabled": BOOLEAN,
                "schedule": string(minLength=9),
                "concurrencyPolicy": {"enum": ["Forbid", "Replace", "Allow"]},
                "successfulJobsHistoryLimit": integer(0, 100),
                "failedJobsHistoryLimit": integer(0, 100),
            }
        ),
        "backoffLimit": integer(0, 10),
        "activeDeadlineSeconds": integer(10, 86400),
        "resources": resources(),
        **security(),
        **pod_placement(),
    }


def edge() -> dict[str, Schema]:
    """mcp-edge: `envoy` takes mcp_edge's own value names (src/python/mcp_edge/values.py)."""
    server_values = server(domain=False)
    bucket: dict[str, Schema] = {
        "maxTokens": integer(1, 1000000),
        "tokensPerFill": integer(1, 1000000),
        # Envoy refuses a fill interval under 50 ms.
        "fillInterval": string("^([1-9][0-9]*(\\.[0-9]+)?|0\\.(0[5-9]|[1-9])[0-9]*)s$"),
    }
    envoy = obj(
        {
            "tenantId": string(GUID_OR_EMPTY),
            "audiences": strings(),
            "resourceUrl": string("^(https://[^\\s/]+/[^\\s]*)?$"),
            "authorityHost": string("^https://[^\\s/]+/?$"),
            "v1IssuerHost": string("^https://[^\\s/]+/?$"),
            "authorityCaFile": string("^/"),
            "jwksCacheDuration": string(DURATION),
            "port": integer(1024, 65535),
            "healthPort": integer(1024, 65535),
            "adminPort": integer(1024, 65535),
            "streamIdleTimeout": string(DURATION),
            "requestHeadersTimeout": string(DURATION),
            "healthCheckInterval": string(DURATION),
            "maxConnections": integer(1, 1000000),
            "rateLimit": obj(bucket),
            "clientRateLimit": obj({**bucket, "maxClients": integer(1, 10000000)}),
        }
    )
    return {
        **names(),
        "envoy": envoy,
        "concurrency": integer(1, 64),
        "logLevel": {"enum": ["trace", "debug", "info", "warning", "error", "critical", "off"]},
        "aggregator": obj(
            {
                "service": string(DNS_LABEL),
                "namespace": string("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$"),
                "port": integer(1, 65535),
                "podLabels": {**STRING_MAP, "minProperties": 1},
            }
        ),
        "tls": obj(
            {
                "secretName": string("^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$"),
                "certificate": obj(
                    {
                        "create": BOOLEAN,
                        "dnsNames": {
                            "type": "array",
                            "items": string("^(\\*\\.)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"),
                        },
                        "issuerRef": obj(
                            {
                                "name": string("^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$"),
                                "kind": {"enum": ["Issuer", "ClusterIssuer"]},
                                "group": string("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
                            }
                        ),
                        # A Go duration, as cert-manager takes it: 720h, 1h30m.
                        "renewBefore": string("^([0-9]+(\\.[0-9]+)?(h|m|s))+$"),
                        "privateKey": obj(
                            {
                                "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                                "size": {"enum": [256, 384, 521, 2048, 3072, 4096, 8192]},
                            }
                        ),
                    }
                ),
            }
        ),
        "service": obj(
            {
                "type": {"enum": ["ClusterIP", "LoadBalancer"]},
                "port": integer(1, 65535),
                "annotations": STRING_MAP,
                "externalTrafficPolicy": {"enum": ["Local", "Cluster"]},
                "loadBalancerSourceRanges": {
                    "type": "array",
                    "items": string("^[0-9a-fA-F.:]+/[0-9]{1,3}$"),
                },
            },
            ["port"],
        ),
        "networkPolicy": obj(
            {
                "enabled": BOOLEAN,
                "ingressFrom": {"type": "array", "items": PEER},
                "authorityCidrs": AUTHORITY_CIDRS,
                "dnsPodLabels": {**STRING_MAP, "minProperties": 1},
            }
        ),
        "podMonitor": obj(
            {**SERVICE_MONITOR["properties"], "from": {"type": "array", "items": PEER}}
        ),
        "serviceAccount": service_account(),
        "replicaCount": server_values["replicaCount"],
        "autoscaling": server_values["autoscaling"],
        "podDisruptionBudget": server_values["podDisruptionBudget"],
        "topologySpread": server_values["topologySpread"],
        "resources": resources(),
        **security(),
        "probes": obj({"startup": PROBE, "liveness": PROBE, "readiness": PROBE}),
        "preStopSleepSeconds": integer(0, 120),
        "terminationGracePeriodSeconds": integer(0, 3600),
        **{k: v for k, v in pod_placement().items() if k != "extraEnv"},
    }


def chart_schema(title: str, properties: dict[str, Schema]) -> Schema:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"Values of the {title} chart",
        "type": "object",
        "additionalProperties": False,
        # Helm passes the library chart's (empty) values under its name.
        "properties": {**properties, "mcp-lib": {"type": "object"}, "global": {"type": "object"}},
    }


DOMAINS = ("mcp-users", "mcp-tickets", "mcp-data")


def schemas() -> dict[str, Schema]:
    """Chart directory name -> its values.schema.json document."""
    built = {name: chart_schema(name, server(domain=True)) for name in DOMAINS}
    built["mcp-aggregator"] = chart_schema("mcp-aggregator", server(domain=False))
    built["mcp-client"] = chart_schema("mcp-client", client())
    built["mcp-edge"] = chart_schema("mcp-edge", edge())
    return built


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv else Path("src/helm")
    for chart, schema in schemas().items():
        path = root / chart / "values.schema.json"
        path.write_text(render(schema))
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
