"""Tools defined by pydantic models, served through the MCP SDK's low-level server.

Why not the SDK's high-level `MCPServer`: it derives the input schema from a function
signature, ignores unknown arguments, and turns every exception into the same text. Here each
tool names an input model (`extra="forbid"`, so a misspelt argument is an error, not silently
dropped) and an output model, so `inputSchema` and `outputSchema` are exactly the models' JSON
Schemas, successful results always carry `structuredContent`, and failures carry a stable
code (their wire shape, and why it has no `structuredContent`, is in `mcp_common.errors`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mcp import types
from pydantic import BaseModel, ValidationError

from mcp_common.auth import Principal
from mcp_common.caller import (
    EndUser,
    bind_end_user,
    caller_of,
    trusted_end_user,
    unbind_end_user,
)
from mcp_common.errors import (
    InvalidArgument,
    ReportedError,
    ToolFailure,
    UpstreamError,
    read_error,
)

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("mcp_common.audit")
"""One line per tool call of an authenticated caller, refusals included: the tool, the end user, the calling app and the
outcome; the JSON formatter adds the trace id, the same as on the aggregator's audit line
(the aggregator passes its trace context on in `_meta`). Never a token or an argument."""

TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
"""The MCP tool-name rule (use `fullmatch`): 1 to 128 of A-Z a-z 0-9 _ - ."""

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True)
class ToolSpec(Generic[InputT, OutputT]):
    """One tool: its contract (name, models, hints) and the coroutine that does the work."""

    name: str
    title: str
    description: str
    input_model: type[InputT]
    output_model: type[OutputT]
    handler: Callable[[InputT], Awaitable[OutputT]]
    read_only: bool = False
    idempotent: bool = False
    destructive: bool = False
    open_world: bool = False

    def to_mcp(self) -> types.Tool:
        """The tool as `tools/list` publishes it."""
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.input_model.model_json_schema(),
            output_schema=self.output_model.model_json_schema(mode="serialization"),
            annotations=types.ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                idempotent_hint=self.idempotent,
                destructive_hint=self.destructive,
                open_world_hint=self.open_world,
            ),
        )


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, naming the argument and what is allowed (never the value sent)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown argument"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def error_result(failure: ToolFailure) -> types.CallToolResult:
    """The MCP result for a failed call: `isError`, `<code>: <message>` as text, the code in
    `_meta` (see `mcp_common.errors`)."""
    return types.CallToolResult.model_validate(failure.to_result())


def reported_error(result: types.CallToolResult) -> ReportedError | None:
    """The platform error a failed result carries (code from `_meta`, message from its text),
    or None for a success or a failure in another shape."""
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    return read_error(result.is_error, result.meta, texts)


class ToolCatalog:
    """The tools one server publishes, and the `tools/list` / `tools/call` handlers for them."""

    def __init__(self, specs: Iterable[ToolSpec[Any, Any]]) -> None:
        self._specs: dict[str, ToolSpec[Any, Any]] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"tool {spec.name!r} is defined twice")
            self._specs[spec.name] = spec
        self._listing = [spec.to_mcp() for spec in self._specs.values()]
        # The SDK asks for a tool's input schema on every call; pydantic would regenerate it.
        self._input_schemas = {tool.name: tool.input_schema for tool in self._listing}

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def input_schema(self, name: str) -> dict[str, Any] | None:
        return self._input_schemas.get(name)

    async def list_tools(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self._listing)

    async def call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = self._specs.get(params.name)
        caller = caller_of(ctx)
        user = trusted_end_user(caller, params.meta)
        if spec is None:
            known = ", ".join(sorted(self._specs))
            result = error_result(InvalidArgument(f"unknown tool {params.name!r}; known: {known}"))
        else:
            bound = bind_end_user(user)
            try:
                # The SDK already wraps each request in a span named after the tool.
                result = await self._run(spec, params.arguments or {})
            finally:
                unbind_end_user(bound)
        if caller.authenticated:
            self._audit(params.name, caller, user, result)
        return result

    @staticmethod
    def _audit(
        tool: str, caller: Principal, user: EndUser | None, result: types.CallToolResult
    ) -> None:
        # Only an authenticated caller is audited: with auth=none (loopback development)
        # there is nobody to name, and a line costs about 20 us of a call's CPU.
        failure = reported_error(result)
        outcome = failure.code if failure is not None else "ok"
        audit_logger.info(
            "tool %s for %s via %s: %s",
            tool,
            user.object_id if user is not None else "nobody",
            caller.app_id or "anonymous",
            outcome,
            extra={
                "audit": "tool_call",
                "tool": tool,
                "outcome": outcome,
                "user_oid": user.object_id if user is not None else "",
                "user_tid": user.tenant_id if user is not None else "",
                "user_delegated": user.delegated if user is not None else False,
                "caller_app": caller.app_id,
            },
        )

    async def _run(
        self, spec: ToolSpec[Any, Any], arguments: dict[str, Any]
    ) -> types.CallToolResult:
        try:
            # Strict, and as JSON (what the arguments were on the wire): the published
            # inputSchema is the contract, so "5" is not an integer and true is not 1, while
            # JSON strings still name enum members.
            validated = spec.input_model.model_validate_json(json.dumps(arguments), strict=True)
        except ValidationError as exc:
            failure = InvalidArgument(
                f"invalid arguments for {spec.name}: {describe_validation_error(exc)}"
            )
            logger.info("tool %s rejected arguments", spec.name, extra={"tool": spec.name})
            return error_result(failure)
        try:
            output = await spec.handler(validated)
        except ValidationError as exc:
            # Handlers validate what their system of record answered; a body that breaks the
            # contract is the upstream's fault, and the caller should hear that, not "a bug".
            logger.warning("tool %s got an upstream body that breaks its contract", spec.name)
            return error_result(
                UpstreamError(
                    f"the system of record answered {spec.name} with data that does not match "
                    f"its contract ({exc.error_count()} problems)"
                )
            )
        except ToolFailure as failure:
            logger.info("tool %s failed: %s", spec.name, failure.code, extra={"tool": spec.name})
            return error_result(failure)
        except Exception:  # - the top-level handler of a tool call
            logger.exception(
                "tool %s raised an unexpected error", spec.name, extra={"tool": spec.name}
            )
            return error_result(
                ToolFailure(f"{spec.name} failed unexpectedly; the server log has details")
            )
        structured = output.model_dump(mode="json")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(structured))],
            structured_content=structured,
        )
