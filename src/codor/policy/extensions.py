"""The extension layer: guard plugins run in a worker process, with a timeout on every call.

Policy syntax::

    extensions:
      - name: office-hours
        file: ./plugins/office_hours.py   # a file (relative to the policy), or
        # module: "mypkg.guards:check"    # an importable callable, or
        # entry_point: office-hours       # a 'codor.guards' entry point
        function: check                   # for file/module without ':', default "check"
        on: [command.exec]                # kinds (wildcards); default all
        timeout_ms: 1000

The engine calls extensions only when nothing has denied (a policy deny never calls them). A
crash, a timeout, a load error or a malformed answer is a deny, and the worker is restarted.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from codor.model import EFFECTS, SEVERITIES, Action, Effect, Severity
from codor.policy.guards.base import Finding
from codor.policy.schema import Section

__all__ = ["ExtensionRunner", "ExtensionSpec", "compile_extension"]

_WORKER = str(Path(__file__).with_name("worker.py"))
_START_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class ExtensionSpec:
    name: str
    kinds: frozenset[str]
    timeout: float
    loader: dict[str, str]  # module | file | entry_point, function


def compile_extension(sec: Section, kinds: frozenset[str], base_dir: Path | None) -> ExtensionSpec:
    sec.only("name", "module", "file", "entry_point", "function", "on", "timeout_ms")
    name = sec.req_string("name")
    sources = [k for k in ("module", "file", "entry_point") if k in sec]
    if len(sources) != 1:
        raise sec.fail(None, "an extension needs exactly one of module, file, entry_point")
    loader = {"name": name, sources[0]: sec.req_string(sources[0])}
    if sources[0] == "file":
        path = Path(loader["file"])
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        loader["file"] = str(path)
    if sec.string("function"):
        loader["function"] = sec.req_string("function")
    timeout_ms = sec.integer("timeout_ms", 1000, minimum=1)
    assert timeout_ms is not None
    return ExtensionSpec(name, kinds, timeout_ms / 1000.0, loader)


class _Worker:
    def __init__(self, specs: list[ExtensionSpec]) -> None:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, _WORKER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, close_fds=True,
        )
        self._buf = b""
        self._next = 0
        self.send({"extensions": [s.loader for s in specs]})
        try:
            hello = self.receive(_START_TIMEOUT)
        except EOFError:
            hello = None
        self.errors: dict[str, str] = dict(hello.get("errors", {})) if hello else {}
        if hello is None:
            self.kill()
            raise OSError("extension worker did not start")

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """One reply line, or ``None`` on timeout; raises ``EOFError`` when the worker died."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        import time

        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("extension worker exited")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return cast(dict[str, Any], json.loads(line))

    def call(self, name: str, action: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        self._next += 1
        self.send({"id": self._next, "ext": name, "action": action})
        reply = self.receive(timeout)
        if reply is not None and reply.get("id") != self._next:
            return None
        return reply

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class ExtensionRunner:
    """Owns the worker process; thread-safe; restarts the worker after any failure."""

    def __init__(self, specs: list[ExtensionSpec]) -> None:
        self.specs = specs
        self.by_kind: dict[str, tuple[ExtensionSpec, ...]] = {}
        for spec in specs:
            for kind in spec.kinds:
                self.by_kind[kind] = (*self.by_kind.get(kind, ()), spec)
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self.starts = 0  # how many workers were started (restarts = starts - 1)

    def _deny(self, spec: ExtensionSpec, what: str, message: str) -> Finding:
        return Finding("deny", f"extension.{spec.name}.{what}", f"extension:{spec.name}",
                       "high", message)

    def call(self, spec: ExtensionSpec, action: Action) -> Finding:
        with self._lock:
            try:
                if self._worker is None or self._worker.proc.poll() is not None:
                    self._worker = _Worker(self.specs)
                    self.starts += 1
                worker = self._worker
                if spec.name in worker.errors:
                    return self._deny(spec, "error", f"extension {spec.name!r} failed to load: "
                                                     f"{worker.errors[spec.name]}")
                reply = worker.call(spec.name, action.to_json(), spec.timeout)
            except (OSError, ValueError, EOFError) as exc:
                self._restart()
                return self._deny(spec, "crashed",
                                  f"extension {spec.name!r} crashed ({exc}); worker restarted")
            if reply is None:
                self._restart()
                return self._deny(spec, "timeout",
                                  f"extension {spec.name!r} timed out after "
                                  f"{spec.timeout * 1000:.0f} ms; worker restarted")
            if "error" in reply:
                return self._deny(spec, "error", f"extension {spec.name!r} raised: "
                                                 f"{str(reply['error'])[:200]}")
            effect = reply.get("effect")
            if effect not in EFFECTS:
                return self._deny(spec, "error",
                                  f"extension {spec.name!r} answered {effect!r}, not an effect")
            severity = reply.get("severity", "high" if effect == "deny" else "info")
            if severity not in SEVERITIES:
                severity = "high"
            message = str(reply.get("message") or f"extension {spec.name!r}: {effect}")[:500]
            return Finding(cast(Effect, effect), f"extension.{spec.name}",
                           f"extension:{spec.name}", cast(Severity, severity), message)

    def _restart(self) -> None:
        if self._worker is not None:
            self._worker.kill()
        self._worker = None  # started again on the next call

    def close(self) -> None:
        with self._lock:
            self._restart()
