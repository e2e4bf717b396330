"""The edge's Envoy v3 bootstrap, rendered from a few values.

In front of the aggregator replicas, Envoy does what a proxy is good at and nothing the
aggregator must decide:

- TLS termination (the certificate and key of a Kubernetes TLS Secret, mounted as files),
  read through a file-based SDS document (`render_certificate_sds`) that watches the Secret's
  folder: when cert-manager renews the Secret and the kubelet swaps the mounted files, Envoy
  serves the new certificate without a restart (a static `tls_certificates` entry is read
  once, at start);
- a first gate of Entra ID JWT checks (`jwt_authn`: RS256 signature against the tenant's remote
  JWKS, issuer in the v1 or v2 form, audience, expiry). The token is forwarded unchanged: the
  aggregator checks it again and decides per tool. Envoy's own 401 carries the same RFC 9728
  `resource_metadata` pointer as the aggregator's, so MCP clients find the authorization server
  whichever of the two refused them;
- local rate limiting (a token bucket per Envoy and one per client address);
- timeouts for MCP: no route timeout (a tool call takes as long as the aggregator's per-upstream
  `call_timeout` allows), a stream idle timeout of an hour so open SSE streams (progress,
  2025-11-25 GET streams) stay up, and no buffering filter, so event streams pass as they come;
- round robin over the aggregator replicas (a headless Service in Kubernetes: one endpoint per
  pod), active health checks on `/health/ready`, outlier ejection, and retries only when the
  request never reached a replica (connect failure, reset before the request was sent): no
  call is run twice.

Only `/mcp` and the protected-resource metadata are routed; `/metrics` and the health
endpoints stay internal. The plain-HTTP health listener (kubelet probes) also serves Envoy's
own statistics, `GET /stats/prometheus` from the admin interface, for a Prometheus (the
chart's optional PodMonitor); nothing else of the admin interface, which listens on 127.0.0.1. Values use the names a Helm chart would (`tenantId`, `audiences`);
`mcp_edge.values.EdgeValues.from_mapping` documents each.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import urlsplit

from mcp_edge.values import EdgeValues, is_ip, retry_after

AGGREGATOR_CLUSTER = "mcp_aggregator"
CERTIFICATE_SDS_NAME = "edge_certificate"
JWKS_CLUSTER = "entra_jwks"
ADMIN_CLUSTER = "envoy_admin"
STATS_PATH = "/stats/prometheus"
_TYPE = "type.googleapis.com/envoy.extensions"


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster_discovery(hosts: list[str]) -> dict[str, Any]:
    # STRICT_DNS keeps every address a name resolves to (a headless Service: one per pod).
    if all(is_ip(host) for host in hosts):
        return {"type": "STATIC"}
    return {"type": "STRICT_DNS", "dns_lookup_family": "V4_PREFERRED"}


def _aggregator_cluster(values: EdgeValues) -> dict[str, Any]:
    return {
        "name": AGGREGATOR_CLUSTER,
        **_cluster_discovery([e.host for e in values.aggregator]),
        "connect_timeout": "2s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": AGGREGATOR_CLUSTER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _address(e.host, e.port)}}
                        for e in values.aggregator
                    ]
                }
            ],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": f"{_TYPE}.upstreams.http.v3.HttpProtocolOptions",
                # uvicorn speaks HTTP/1.1; idle pooled connections are closed before the
                # aggregator's own keep-alive would drop them under a request.
                "explicit_http_config": {"http_protocol_options": {}},
                "common_http_protocol_options": {"idle_timeout": "4s"},
            }
        },
        "health_checks": [
            {
                "timeout": "2s",
                "interval": values.health_check_interval,
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "http_health_check": {"path": "/health/ready"},
            }
        ],
        # A replica that refuses connections is taken out at once, not after 5 errors.
        "outlier_detection": {
            "split_external_local_origin_errors": True,
            "consecutive_local_origin_failure": 1,
            "consecutive_gateway_failure": 3,
            "base_ejection_time": "10s",
            "max_ejection_percent": 50,
        },
        # Open SSE streams each hold an HTTP/1.1 connection: the default 1024 is too few.
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": values.max_connections,
                    "max_pending_requests": values.max_connections,
                    "max_requests": values.max_connections,
                    "max_retries": 32,
                }
            ]
        },
    }


def _jwks_cluster(values: EdgeValues) -> dict[str, Any]:
    authority = urlsplit(values.authority_host)
    host = authority.hostname or ""
    port = authority.port or 443
    discovery = _cluster_discovery([host])
    if discovery["type"] == "STRICT_DNS":
        discovery["type"] = "LOGICAL_DNS"  # one address at a time is enough for a key fetch
    validation: dict[str, Any] = {"trusted_ca": {"filename": values.authority_ca_file}}
    if not is_ip(host):
        validation["match_typed_subject_alt_names"] = [
            {"san_type": "DNS", "matcher": {"exact": host}}
        ]
    return {
        "name": JWKS_CLUSTER,
        **discovery,
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": JWKS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
        },
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": f"{_TYPE}.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
                "common_tls_context": {"validation_context": validation},
            },
        },
    }


def _jwt_authn(values: EdgeValues) -> dict[str, Any]:
    def provider(issuer: str) -> dict[str, Any]:
        return {
            "issuer": issuer,
            "audiences": list(values.audiences),
            "forward": True,  # the aggregator checks the token again and authorizes per tool
            "remote_jwks": {
                "http_uri": {"uri": values.jwks_uri, "cluster": JWKS_CLUSTER, "timeout": "5s"},
                "cache_duration": values.jwks_cache_duration,
                "async_fetch": {"fast_listener": False},
                "retry_policy": {
                    "num_retries": 3,
                    "retry_back_off": {"base_interval": "0.5s", "max_interval": "5s"},
                },
            },
            "jwt_cache_config": {"jwt_cache_size": 1000},
        }

    v2, v1 = values.issuers
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": f"{_TYPE}.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"entra_v2": provider(v2), "entra_v1": provider(v1)},
            "rules": [
                {
                    "match": {"path": "/mcp"},
                    "requires": {
                        "requires_any": {
                            "requirements": [
                                {"provider_name": "entra_v2"},
                                {"provider_name": "entra_v1"},
                            ]
                        }
                    },
                }
            ],
            "bypass_cors_preflight": True,
        },
    }


def _local_rate_limit(values: EdgeValues) -> dict[str, Any]:
    """Two token buckets: one for all of this Envoy's requests, and one per client address
    (the descriptor `remote_address` without a value: Envoy makes a bucket for each address it
    sees, up to `maxClients`, dropping the least recently used). A request takes a token
    from both; an empty one answers 429. It runs before `jwt_authn`, so a flood of bad tokens
    from one address empties that address's bucket, not everyone's."""
    always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    bucket = values.rate_limit
    client = values.client_rate_limit
    return {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": f"{_TYPE}.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "edge_rate_limit",
            "token_bucket": _token_bucket(bucket),
            "descriptors": [
                {"entries": [{"key": "remote_address"}], "token_bucket": _token_bucket(client)}
            ],
            "max_dynamic_descriptors": int(client["maxClients"]),
            "always_consume_default_token_bucket": True,
            "rate_limits": [{"actions": [{"remote_address": {}}]}],
            "filter_enabled": {**always, "runtime_key": "edge_rate_limit_enabled"},
            "filter_enforced": {**always, "runtime_key": "edge_rate_limit_enforced"},
            # Only on answers it limited: when a token is next there (RFC 9110 Retry-After).
            "response_headers_to_add": [
                {
                    "header": {
                        "key": "retry-after",
                        "value": retry_after(
                            str(bucket["fillInterval"]), str(client["fillInterval"])
                        ),
                    },
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
        },
    }


def _token_bucket(bucket: dict[str, Any]) -> dict[str, Any]:
    return {
        "max_tokens": int(bucket["maxTokens"]),
        "tokens_per_fill": int(bucket["tokensPerFill"]),
        "fill_interval": str(bucket["fillInterval"]),
    }


def _status_is(code: int) -> dict[str, Any]:
    comparison = {"op": "EQ", "value": {"default_value": code, "runtime_key": f"edge_{code}"}}
    return {"status_code_filter": {"comparison": comparison}}


def _challenge_mappers(values: EdgeValues) -> list[dict[str, Any]]:
    """Envoy's own refusals, answered as the aggregator answers (RFC 6750, RFC 9728).

    jwt_authn answers 401 for a missing or unverifiable token and 403 for a verified token of
    another audience or issuer; the only local 403 in this configuration is that one, and for
    a resource server it is an invalid token too (401). The aggregator's own 403
    (insufficient_scope) comes from upstream and is not a local reply, so it passes unchanged.
    """
    metadata = f'resource_metadata="{values.resource_metadata_url}"'

    def challenge(value: str) -> list[dict[str, Any]]:
        header = {"key": "www-authenticate", "value": value}
        return [{"header": header, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]

    invalid = challenge(f'Bearer error="invalid_token", {metadata}')
    presented = {"header_filter": {"header": {"name": "authorization", "present_match": True}}}
    return [
        {"filter": _status_is(403), "status_code": 401, "headers_to_add": invalid},
        {
            "filter": {"and_filter": {"filters": [_status_is(401), presented]}},
            "headers_to_add": invalid,
        },
        {"filter": _status_is(401), "headers_to_add": challenge(f"Bearer {metadata}")},
    ]


def _access_log(values: EdgeValues) -> dict[str, Any]:
    # Never the Authorization header or a body: who called is the aggregator's audit log.
    fields = {
        "time": "%START_TIME%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "traceparent": "%REQ(TRACEPARENT)%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(:PATH)%",
        "protocol_version": "%REQ(MCP-PROTOCOL-VERSION)%",
        "status": "%RESPONSE_CODE%",
        "details": "%RESPONSE_CODE_DETAILS%",
        "flags": "%RESPONSE_FLAGS%",
        "upstream_host": "%UPSTREAM_HOST%",
        "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
        "duration_ms": "%DURATION%",
        "downstream": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    }
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": f"{_TYPE}.access_loggers.file.v3.FileAccessLog",
            "path": values.access_log_path,
            "log_format": {"json_format": fields},
        },
    }


def _edge_routes() -> dict[str, Any]:
    upstream = {
        "cluster": AGGREGATOR_CLUSTER,
        # No route timeout: a tool call lasts as long as the aggregator allows (its
        # per-upstream call_timeout); open streams are bounded by the stream idle timeout.
        "timeout": "0s",
        "retry_policy": {
            # Only when the request never reached a replica: no call runs twice.
            "retry_on": "connect-failure,refused-stream,reset-before-request",
            "num_retries": 2,
            "retry_host_predicate": [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": {
                        "@type": f"{_TYPE}.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                    },
                }
            ],
            "host_selection_retry_max_attempts": 5,
        },
    }
    return {
        "name": "edge",
        "virtual_hosts": [
            {
                "name": "mcp",
                "domains": ["*"],
                "routes": [
                    {"match": {"path": "/mcp"}, "route": upstream},
                    {
                        "match": {"prefix": "/.well-known/oauth-protected-resource"},
                        "route": {"cluster": AGGREGATOR_CLUSTER, "timeout": "10s"},
                    },
                    # /metrics and the health endpoints stay inside the cluster.
                    {
                        "match": {"prefix": "/"},
                        "direct_response": {"status": 404, "body": {"inline_string": "not found"}},
                    },
                ],
            }
        ],
    }


def _edge_listener(values: EdgeValues) -> dict[str, Any]:
    manager = {
        "@type": f"{_TYPE}.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "edge",
        "codec_type": "AUTO",
        "use_remote_address": True,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "common_http_protocol_options": {
            "headers_with_underscores_action": "REJECT_REQUEST",
            "idle_timeout": values.stream_idle_timeout,
        },
        "http2_protocol_options": {"max_concurrent_streams": 100},
        "stream_idle_timeout": values.stream_idle_timeout,
        "request_headers_timeout": values.request_headers_timeout,
        "request_timeout": "0s",
        "always_set_request_id_in_response": True,
        "access_log": [_access_log(values)],
        "route_config": _edge_routes(),
        "local_reply_config": {
            "mappers": _challenge_mappers(values),
            "body_format": {
                "json_format": {
                    "error": "%RESPONSE_CODE_DETAILS%",
                    "error_description": "%LOCAL_REPLY_BODY%",
                    "request_id": "%REQ(X-REQUEST-ID)%",
                }
            },
        },
        "http_filters": [
            _local_rate_limit(values),
            _jwt_authn(values),
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": f"{_TYPE}.filters.http.router.v3.Router"},
            },
        ],
    }
    return {
        "name": "edge_https",
        "address": _address(values.listen_address, values.port),
        "per_connection_buffer_limit_bytes": 1048576,
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ],
                "transport_socket": {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": f"{_TYPE}.transport_sockets.tls.v3.DownstreamTlsContext",
                        "common_tls_context": {
                            "alpn_protocols": ["h2", "http/1.1"],
                            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                            "tls_certificate_sds_secret_configs": [
                                {
                                    "name": CERTIFICATE_SDS_NAME,
                                    "sds_config": {
                                        "path_config_source": {"path": values.certificate_sds_file},
                                        "resource_api_version": "V3",
                                    },
                                }
                            ],
                        },
                    },
                },
            }
        ],
    }


def _health_listener(values: EdgeValues) -> dict[str, Any]:
    # Plain HTTP for kubelet probes: 200 while Envoy runs and is not draining.
    manager = {
        "@type": f"{_TYPE}.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "edge_health",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "health",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {
                                "path": STATS_PATH,
                                "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
                            },
                            "route": {"cluster": ADMIN_CLUSTER},
                        },
                        {
                            "match": {"prefix": "/"},
                            "direct_response": {"status": 404},
                        },
                    ],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.health_check",
                "typed_config": {
                    "@type": f"{_TYPE}.filters.http.health_check.v3.HealthCheck",
                    "pass_through_mode": False,
                    "headers": [{"name": ":path", "string_match": {"exact": "/ready"}}],
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": f"{_TYPE}.filters.http.router.v3.Router"},
            },
        ],
    }
    return {
        "name": "edge_health",
        "address": _address(values.listen_address, values.health_port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def _admin_cluster(values: EdgeValues) -> dict[str, Any]:
    # The admin interface, reached only by the health listener's /stats/prometheus route.
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": ADMIN_CLUSTER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _address("127.0.0.1", values.admin_port)}}
                    ]
                }
            ],
        },
    }


def render_certificate_sds(values: EdgeValues) -> dict[str, Any]:
    """The SDS document the bootstrap reads the edge's certificate from (at
    `values.certificate_sds_file`): the certificate and key files, and the folder to watch.

    The folder is the certificate's: a Kubernetes Secret volume updates by swapping a `..data`
    symlink there, which Envoy sees as a move and answers by reading the pair again (checked
    for a consistent read of both). A pair that does not load keeps the old one serving.
    """
    folder = posixpath.dirname(values.certificate_file) or "."
    return {
        "resources": [
            {
                "@type": f"{_TYPE}.transport_sockets.tls.v3.Secret",
                "name": CERTIFICATE_SDS_NAME,
                "tls_certificate": {
                    "certificate_chain": {"filename": values.certificate_file},
                    "private_key": {"filename": values.private_key_file},
                    "watched_directory": {"path": folder},
                },
            }
        ]
    }


def render(values: EdgeValues) -> dict[str, Any]:
    """The Envoy v3 bootstrap of the edge for `values`."""
    return {
        "node": {"id": "mcp-edge", "cluster": "mcp-edge"},
        "admin": {"address": _address("127.0.0.1", values.admin_port)},
        "static_resources": {
            "listeners": [_edge_listener(values), _health_listener(values)],
            "clusters": [
                _aggregator_cluster(values),
                _jwks_cluster(values),
                _admin_cluster(values),
            ],
        },
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": f"{_TYPE}.resource_monitors.downstream_connections.v3"
                        ".DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 50000,
                    },
                }
            ]
        },
    }
