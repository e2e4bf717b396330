"""The audit trail of authorization decisions: one log line per decision, denials included.

Each line names the caller (`oid`, the calling application), what it asked for, and the
decision; the JSON log formatter adds the trace id. Never the token, never `upn` or e-mail.
Lines go to the `mcp_aggregator.audit` logger, so a deployment can route them to their own
sink by logger name.
"""

from __future__ import annotations

import logging

from mcp_common.auth import Principal

audit_logger = logging.getLogger("mcp_aggregator.audit")


def record_decision(principal: Principal, kind: str, name: str, allowed: bool) -> None:
    decision = "allow" if allowed else "deny"
    audit_logger.info(
        "%s %s %s for %s",
        decision,
        kind,
        name,
        principal.object_id or principal.subject,
        extra={
            "audit": "authorization",
            "decision": decision,
            "target_kind": kind,
            "target": name,
            "caller_oid": principal.object_id,
            "caller_tid": principal.tenant_id,
            "caller_app": principal.app_id,
        },
    )
