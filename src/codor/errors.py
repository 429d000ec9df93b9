"""One error tree for all of CODOR; every class carries a stable, documented ``code``.

This module imports nothing from the package. Errors are translated to exit codes only in
``codor.cli`` and to HTTP statuses only in ``codor.server``. A *deny* is never an exception:
it is a returned :class:`codor.model.Decision`.
"""

from __future__ import annotations

__all__ = [
    "ActionError",
    "CodorError",
    "InputError",
    "InternalError",
    "PatchApplyError",
    "PolicyError",
    "PolicyExtendsError",
    "PolicyPatternError",
    "PolicySchemaError",
    "PolicySyntaxError",
    "PolicyVariableError",
    "SandboxError",
    "SandboxNetworkError",
    "SandboxSetupError",
    "SandboxUnavailableError",
    "TokenError",
    "ToolArgumentError",
    "ToolError",
    "ToolIOError",
    "UnknownKindError",
    "UnsafePathError",
]


class CodorError(Exception):
    """Base of every error CODOR raises on purpose.

    ``code`` is stable across releases (scripts may match on it); ``location`` is where the
    problem is (``file:line``, ``<stdin>:3``, a field name), when known.
    """

    code: str = "CODOR_ERROR"

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def one_line(self) -> str:
        """The error as a single line: ``location: message [code]``."""
        text = " ".join(self.message.split())
        where = f"{self.location}: " if self.location else ""
        return f"{where}{text} [{self.code}]"

    def __str__(self) -> str:
        return self.one_line()

    def to_json(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "location": self.location}


class InputError(CodorError):
    """Input that is not what the command reads (not JSON, not an object, bad encoding)."""

    code = "E_INPUT"


class ActionError(CodorError):
    """A malformed action: missing or mistyped field for its kind."""

    code = "E_ACTION"


class UnknownKindError(ActionError):
    """An action kind CODOR does not know."""

    code = "E_ACTION_KIND"


class PolicyError(CodorError):
    """Base of every problem with a policy file."""

    code = "E_POLICY"


class PolicySyntaxError(PolicyError):
    """The policy file is not valid YAML."""

    code = "E_POLICY_YAML"


class PolicySchemaError(PolicyError):
    """Unknown key, wrong type, bad effect, missing field."""

    code = "E_POLICY_SCHEMA"


class PolicyExtendsError(PolicyError):
    """An ``extends`` entry is missing, unknown, cyclic or nested too deeply."""

    code = "E_POLICY_EXTENDS"


class PolicyVariableError(PolicyError):
    """A ``${VAR}`` reference that nothing defines."""

    code = "E_POLICY_VARIABLE"


class PolicyPatternError(PolicyError):
    """A glob, host pattern or regular expression that does not compile."""

    code = "E_POLICY_PATTERN"


class TokenError(CodorError):
    """A capability token that cannot be parsed or whose signature is wrong."""

    code = "E_TOKEN"


class InternalError(CodorError):
    """A bug inside CODOR. Decision paths turn it into a deny; it is never an allow."""

    code = "E_INTERNAL"


class ToolError(CodorError):
    """A built-in tool (``codor.runtime``) could not do what was asked."""

    code = "E_TOOL"


class ToolArgumentError(ToolError):
    """An unknown tool, or arguments missing, mistyped or out of range for the tool."""

    code = "E_TOOL_ARGS"


class ToolIOError(ToolError):
    """The operating system refused the operation (missing file, not a directory...)."""

    code = "E_TOOL_IO"


class UnsafePathError(ToolError):
    """A path cannot be opened as decided: a symlink or swapped directory on the way (a race
    between decision and open), a hard-linked or non-regular file."""

    code = "E_PATH_UNSAFE"


class PatchApplyError(ToolError):
    """A unified diff does not apply: context mismatch, missing or existing file, or a
    section the fast path does not support (binary, rename without content, mode change)."""

    code = "E_PATCH_APPLY"


class SandboxError(CodorError):
    """Base of every problem confining a command (``codor.sandbox``)."""

    code = "E_SANDBOX"


class SandboxUnavailableError(SandboxError):
    """No sandbox backend gives the guarantees the policy requires (and the policy does not
    accept a weaker one), or the backend asked for cannot run on this machine."""

    code = "E_SANDBOX_UNAVAILABLE"


class SandboxSetupError(SandboxError):
    """The sandbox could not be built as specified: a protected path that cannot be pinned
    (a symlink), a workspace that does not exist, the backend failing before the command."""

    code = "E_SANDBOX_SETUP"


class SandboxNetworkError(SandboxError):
    """The sandbox's network could not be set up: the egress proxy cannot listen, or the
    forwarder cannot join the sandbox's network namespace or does not become ready."""

    code = "E_SANDBOX_NETWORK"
