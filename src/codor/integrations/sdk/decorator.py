"""``@guarded``: every call of a tool function is decided, then run, then recorded.

::

    @guarded(kind="tool.call", tool="search")          # the default kind; tool defaults
    def search(query: str) -> list[str]: ...            # to the function's name

    @guarded(kind="file.write")                         # fields from same-named parameters
    def save(path: str, content: str) -> None: ...

    @guarded(action=lambda url: Action.create("network.request", url=url, method="GET"))
    async def fetch(url: str) -> bytes: ...

Which action a call is: ``action(*args, **kwargs)`` when given; else for ``tool.call`` the
tool name and the call's arguments (bound to the signature, defaults applied, as JSON); else
the kind with the fixed ``fields`` plus every parameter named like one of the kind's fields
(``path``, ``content``, ``command``, ``argv``, ``url``...). A call whose action cannot be built
is denied (nothing runs). A deny raises :class:`~codor.integrations.sdk.errors.ActionDenied`,
an ask :class:`~codor.integrations.sdk.errors.ApprovalRequired`; an allowed call runs and its
outcome is recorded (see :meth:`Guard.execute`). Sync and ``async def`` functions both work.

The guard is ``guard=`` when given, else :meth:`Guard.current` at call time (the innermost
``with guard:`` block, else the process's default guard for the current directory).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar, cast, overload

from codor.errors import ActionError, UnknownKindError
from codor.integrations.sdk.guard import Guard
from codor.integrations.sdk.results import Checked, jsonable, path_text
from codor.model import KIND_FIELDS, Action

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = ["ActionMapper", "ToolActionMapper", "decide_call", "guarded", "is_guarded",
           "tool_call_action"]

P = ParamSpec("P")
R = TypeVar("R")
#: Builds the action for one call from the call's own arguments.
ActionMapper = Callable[..., Action]
#: Builds the action of one framework tool call from the tool's name and its arguments.
ToolActionMapper = Callable[[str, Mapping[str, Any]], Action]
_MARK: Final = "__codor_guarded__"
_SKIP: Final = frozenset({"self", "cls"})


@overload
def guarded(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def guarded(*, kind: str = "tool.call", tool: str | None = None, server: str | None = None,
            action: ActionMapper | None = None, guard: Guard | None = None,
            **fields: Any) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def guarded(fn: Callable[P, R] | None = None, /, *, kind: str = "tool.call",
            tool: str | None = None, server: str | None = None,
            action: ActionMapper | None = None, guard: Guard | None = None,
            **fields: Any) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a tool function so every call is decided, run and recorded (module doc).
    Raises :class:`~codor.errors.ActionError` at decoration for an unknown ``kind``, or for
    ``tool``/``server`` with another kind than ``tool.call``."""
    if action is None and kind not in KIND_FIELDS:
        raise UnknownKindError(f"@guarded: unknown action kind {kind!r}")
    if kind != "tool.call" and (tool is not None or server is not None):
        raise ActionError(f"@guarded: tool= and server= name a tool.call, not a {kind}")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        build = action or _mapper(func, kind, tool, server, fields)
        return wrap(func, build, guard)

    return decorate if fn is None else decorate(fn)


def is_guarded(fn: object) -> bool:
    """Whether ``fn`` is already a ``@guarded`` function."""
    return bool(getattr(fn, _MARK, False))


def wrap(func: Callable[P, R], build: ActionMapper, guard: Guard | None) -> Callable[P, R]:
    """The guarded form of ``func`` with an explicit action mapper (what ``@guarded`` uses)."""
    if inspect.iscoroutinefunction(func):
        afunc = cast("Callable[P, Awaitable[Any]]", func)

        @functools.wraps(func)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            g = guard if guard is not None else Guard.current()
            checked = decide_call(g, lambda: build(*args, **kwargs))
            return await g.aexecute(checked, lambda: afunc(*args, **kwargs))

        setattr(async_wrapper, _MARK, True)
        return cast("Callable[P, R]", async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g = guard if guard is not None else Guard.current()
        checked = decide_call(g, lambda: build(*args, **kwargs))
        return g.execute(checked, lambda: func(*args, **kwargs))

    setattr(wrapper, _MARK, True)
    return wrapper


def decide_call(guard: Guard, build: Callable[[], Action]) -> Checked:
    """Decide the action ``build()`` makes for one call (``@guarded`` and the adapters). A
    mapper that raises or returns anything but an :class:`Action` is a deny — rule
    ``input.<code>`` for a CODOR error, else ``sdk.action`` — so nothing runs."""
    try:
        action = build()
        if not isinstance(action, Action):
            raise TypeError(f"the action mapper returned {type(action).__name__}, "
                            f"not an Action")
    except Exception as exc:  # no action, no decision: deny
        code = getattr(exc, "code", None)
        rule = f"input.{code}" if isinstance(code, str) else "sdk.action"
        return guard.refuse(rule, f"the call's action could not be built: "
                                  f"{type(exc).__name__}: {exc}")
    return guard.decide(action)


def tool_call_action(name: str, arguments: Mapping[str, Any], *,
                     action: ToolActionMapper | None = None,
                     server: str | None = None) -> Action:
    """The action of a framework's tool call: ``action(name, arguments)`` when given, else a
    ``tool.call`` of ``name`` (on ``server``) with the arguments as JSON."""
    if action is not None:
        return action(name, arguments)
    return Action.create("tool.call", tool=name, server=server, arguments=jsonable(arguments))


def _mapper(func: Callable[..., Any], kind: str, tool: str | None, server: str | None,
            fields: Mapping[str, Any]) -> ActionMapper:
    """The default action for ``kind`` (see the module doc)."""
    signature = inspect.signature(func)
    name = tool or getattr(func, "__name__", None) or "tool"
    accepted = KIND_FIELDS.get(kind, frozenset())

    def bound(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        return {k: v for k, v in call.arguments.items() if k not in _SKIP}

    if kind == "tool.call":
        def tool_action(*args: Any, **kwargs: Any) -> Action:
            return Action.create("tool.call", tool=name, server=server,
                                 arguments=jsonable(bound(args, kwargs)), **fields)
        return tool_action

    def kind_action(*args: Any, **kwargs: Any) -> Action:
        data = dict(fields)
        for key, value in bound(args, kwargs).items():
            if key in accepted and key not in data and value is not None:
                data[key] = _field(key, value)
        if isinstance(data.get("content"), bytes):
            data["content_sha256"] = hashlib.sha256(data.pop("content")).hexdigest()
        return Action.create(kind, **data)
    return kind_action


def _field(name: str, value: Any) -> Any:
    if name == "argv" and isinstance(value, list | tuple):
        return [path_text(a) for a in value]
    return path_text(value)
