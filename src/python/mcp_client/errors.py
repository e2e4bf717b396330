"""What can go wrong talking to an MCP server, each with the CLI exit code it ends in.

| exit | meaning                                                                     |
| ---- | --------------------------------------------------------------------------- |
| 0    | success                                                                      |
| 1    | a tool error, a refused call, or validation / contract problems             |
| 2    | usage: bad arguments or settings                                            |
| 3    | the server is unreachable or did not answer in time                         |
| 4    | unauthorized: the server wants a (valid) token, or no token could be had   |

The connection layer raises these with a message a person can act on (what failed, where,
what to do); the CLI prints the message on one line and exits with the code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    UNAUTHORIZED = 4


class ClientError(Exception):
    """A failure the user is told about in one line."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ClientError):
    """Arguments or settings that cannot work (an unknown option, malformed JSON)."""

    exit_code = ExitCode.USAGE


class ServerUnreachable(ClientError):
    """No connection could be made (refused, unknown host, TLS failure)."""

    exit_code = ExitCode.UNREACHABLE


class ServerTimeout(ClientError):
    """The server accepted the connection but did not answer in time."""

    exit_code = ExitCode.UNREACHABLE


class Unauthorized(ClientError):
    """The server refused the request for want of a valid token, or no token could be had."""

    exit_code = ExitCode.UNAUTHORIZED


class RequestRefused(ClientError):
    """The server answered a request with a JSON-RPC error (unknown tool, invalid params)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ContractViolation(ClientError):
    """The server answered, but not as its published schemas promise."""
