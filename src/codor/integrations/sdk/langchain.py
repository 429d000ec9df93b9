"""LangChain adapter (extra ``codor[langchain]``): a ``BaseTool`` whose every call is decided,
run and recorded by a :class:`~codor.integrations.sdk.guard.Guard`.

``guard_tool(tool, guard)`` returns a :class:`GuardedTool` that looks like ``tool`` to
LangChain and to the model — same name, description, argument schema, injected arguments,
``response_format`` and error settings — and delegates input parsing and execution to it.
Between parsing and execution the call's action (``tool.call`` with the tool's name and the
parsed arguments, or what ``action(name, arguments)`` returns) is decided:

- allowed: the tool runs; its outcome is recorded (``codor-runtime``: its content, or the
  exception with status 1);
- denied: the tool does not run. The wrapper raises :class:`ToolDenied` — a
  ``ToolException`` *and* an :class:`~codor.integrations.sdk.errors.ActionDenied` — so
  LangChain's convention applies: with ``handle_tool_error`` false the exception propagates
  (catch ``ActionDenied``), with ``True`` (or a string or callable) the refusal becomes the
  tool's output and the model reads why (a ``ToolMessage`` with ``status="error"`` when
  invoked with a tool call). An ask raises :class:`ToolApprovalRequired` the same way.

``handle_tool_error`` is the wrapped tool's unless given; it also applies to the tool's own
``ToolException``\\ s, as it would on the tool itself.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any

from codor.integrations.sdk.errors import ActionDenied, ApprovalRequired, MissingExtraError

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForToolRun,
        CallbackManagerForToolRun,
    )
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool, ToolException
    from pydantic import PrivateAttr
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(__name__, "langchain", "langchain-core") from exc

from codor.integrations.sdk.decorator import ToolActionMapper, decide_call, tool_call_action
from codor.integrations.sdk.guard import Guard
from codor.integrations.sdk.results import Checked

__all__ = ["GuardedTool", "ToolActionMapper", "ToolApprovalRequired", "ToolDenied",
           "guard_tool", "guard_tools"]

ErrorHandler = bool | str | Callable[[ToolException], Any] | None


class ToolDenied(ActionDenied, ToolException):
    """A refused tool call, as LangChain's ``ToolException`` (see the module doc)."""


class ToolApprovalRequired(ApprovalRequired, ToolDenied):
    """A tool call the policy asks a person about; it does not run."""


def guard_tool(tool: BaseTool, guard: Guard | None = None, *,
               action: ToolActionMapper | None = None, server: str | None = None,
               handle_tool_error: ErrorHandler = None) -> GuardedTool:
    """``tool`` with every call decided, run and recorded by ``guard`` (``None``:
    :meth:`Guard.current` at call time). ``server`` names where the tool comes from in the
    ``tool.call`` action; ``action`` replaces that action altogether (e.g. a file-writing
    tool decided as ``file.write`` so the path rules apply)."""
    if isinstance(tool, GuardedTool):
        raise TypeError(f"tool {tool.name!r} is already guarded")
    wrapped = GuardedTool(
        name=tool.name, description=tool.description, args_schema=tool.args_schema,
        return_direct=tool.return_direct, verbose=tool.verbose, callbacks=tool.callbacks,
        tags=tool.tags, metadata=tool.metadata,
        handle_tool_error=tool.handle_tool_error if handle_tool_error is None
        else handle_tool_error,
        handle_validation_error=tool.handle_validation_error,
        response_format=tool.response_format, extras=tool.extras)
    wrapped._codor_inner = tool
    wrapped._codor_guard = guard
    wrapped._codor_action = action
    wrapped._codor_server = server
    return wrapped


def guard_tools(tools: Iterable[BaseTool], guard: Guard | None = None, *,
                server: str | None = None,
                handle_tool_error: ErrorHandler = None) -> list[GuardedTool]:
    """:func:`guard_tool` for each tool."""
    return [guard_tool(t, guard, server=server, handle_tool_error=handle_tool_error)
            for t in tools]


class GuardedTool(BaseTool):
    """A LangChain tool in front of another one (see the module doc); build it with
    :func:`guard_tool`."""

    _codor_inner: BaseTool = PrivateAttr()
    _codor_guard: Guard | None = PrivateAttr(default=None)
    _codor_action: ToolActionMapper | None = PrivateAttr(default=None)
    _codor_server: str | None = PrivateAttr(default=None)

    @property
    def inner(self) -> BaseTool:
        """The wrapped tool."""
        return self._codor_inner

    # -- the wrapped tool's view of its input -----------------------------------------------
    @property
    def args(self) -> dict[str, Any]:
        return self._codor_inner.args

    @property
    def tool_call_schema(self) -> Any:
        return self._codor_inner.tool_call_schema

    def get_input_schema(self, config: RunnableConfig | None = None) -> Any:
        return self._codor_inner.get_input_schema(config)

    def _to_args_and_kwargs(self, tool_input: str | dict[str, Any],
                            tool_call_id: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return self._codor_inner._to_args_and_kwargs(tool_input, tool_call_id)

    def _filter_injected_args(self, tool_input: dict[str, Any]) -> dict[str, Any]:
        return self._codor_inner._filter_injected_args(tool_input)

    # -- execution ----------------------------------------------------------------------------
    def _run(self, *args: Any, config: RunnableConfig,
             run_manager: CallbackManagerForToolRun | None = None, **kwargs: Any) -> Any:
        guard, checked = self._decide(args, kwargs)
        inner = self._codor_inner
        extra = _passed(inner._run, run_manager, config)
        return guard.execute(checked, lambda: inner._run(*args, **kwargs, **extra))

    async def _arun(self, *args: Any, config: RunnableConfig,
                    run_manager: AsyncCallbackManagerForToolRun | None = None,
                    **kwargs: Any) -> Any:
        guard, checked = self._decide(args, kwargs)
        inner = self._codor_inner
        # what LangChain itself would call (BaseTool.arun): _arun if the tool has its own
        target = inner._run if type(inner)._arun is BaseTool._arun else inner._arun
        extra = _passed(target, run_manager, config)
        return await guard.aexecute(checked, lambda: inner._arun(*args, **kwargs, **extra))

    def _decide(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Guard, Checked]:
        guard = self._codor_guard if self._codor_guard is not None else Guard.current()
        arguments: dict[str, Any] = dict(self._codor_inner._filter_injected_args(kwargs))
        if len(args) == 1:
            arguments = {"input": args[0], **arguments}
        elif args:
            arguments = {"args": list(args), **arguments}
        checked = decide_call(guard, lambda: tool_call_action(
            self.name, arguments, action=self._codor_action, server=self._codor_server))
        if not checked.allowed:
            error = ToolApprovalRequired if checked.decision.decision == "ask" else ToolDenied
            raise error(checked.decision, checked.action, checked.index)
        return guard, checked


def _passed(fn: Callable[..., Any], run_manager: object, config: RunnableConfig) -> dict[str, Any]:
    """The keyword arguments LangChain's ``run``/``arun`` would pass to ``fn`` besides the
    tool's own: its callback manager and its ``RunnableConfig`` parameter, when it takes them."""
    extra: dict[str, Any] = {}
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return extra
    if "run_manager" in parameters:
        extra["run_manager"] = run_manager
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    for name, hint in hints.items():
        if hint is RunnableConfig and name in parameters:
            extra[name] = config
            break
    return extra
