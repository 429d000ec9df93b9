"""Running commands confined, under the kernel's policy: the bridge between the runtime (``codor
run``, the tool router's ``shell.exec``/``test.run``) and :mod:`codor.sandbox`.

One :class:`SandboxExecutor` per workspace and session: it chooses the backend once (never a
weaker one unless the policy says so), starts the egress proxy once when the policy's sandbox
network is ``proxy`` (every request it sees is decided and recorded by the kernel, in this
session; its proxy-level events are recorded too), and for each command builds the spec,
starts the in-sandbox forwarder while the sandbox is still held, runs, and returns what it
observed. It keeps one forwarder process started ahead (a spare, see
:class:`~codor.sandbox.forwarder.ForwarderPool`), so a command waits only for it to join the
sandbox's network; :meth:`SandboxExecutor.close` kills it. It is also a
:class:`~codor.runtime.commands.SandboxRunner` for the tool router, and may run commands from
several threads at once (its state is made once, under a lock).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from codor.model import Agent

if TYPE_CHECKING:
    from codor.kernel import Kernel
    from codor.policy.sandbox_section import SandboxSettings
    from codor.runtime.commands import RunReport, RunRequest
    from codor.sandbox.backends import Choice
    from codor.sandbox.forwarder import ForwarderHandle, ForwarderPool
    from codor.sandbox.proxy import EgressProxy
    from codor.sandbox.result import RunResult
    from codor.sandbox.spec import SandboxSpec

__all__ = ["SandboxExecutor"]


class SandboxExecutor:
    """Confined execution for one workspace and session (see the module doc).

    ``env`` is the environment commands start from (default: this process's); the sandbox
    scrubs credentials from it. ``spare=False`` starts no forwarder for a next command (for a
    caller that runs one command, like ``codor run``: the command's own forwarder still starts
    while the sandbox is being set up). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, kernel: Kernel, workspace: str | os.PathLike[str], *,
                 session: str | None = None, agent: Agent | None = None,
                 settings: SandboxSettings | None = None,
                 env: Mapping[str, str] | None = None, spare: bool = True) -> None:
        self.kernel = kernel
        self.workspace = os.path.realpath(os.fspath(workspace))
        self.session = session
        self.agent = agent
        self.settings = settings if settings is not None else kernel.engine.policy.sandbox
        self.env = dict(os.environ if env is None else env)
        self.spare = spare
        self._setup = threading.Lock()  # for the state below, made on first use
        self._choice: Choice | None = None
        self._proxy: EgressProxy | None = None
        self._proxy_dir: str | None = None
        self._forwarders: ForwarderPool | None = None

    # -- choosing and explaining -------------------------------------------------------------
    @property
    def choice(self) -> Choice:
        """The backend (raises SandboxUnavailableError when none gives the guarantees)."""
        choice = self._choice
        if choice is None:
            with self._setup:
                if self._choice is None:
                    from codor.sandbox.backends import choose_backend

                    self._choice = choose_backend(self.settings)
                choice = self._choice
        return choice

    def spec(self, argv: Sequence[str], *, cwd: str | None = None,
             env: Mapping[str, str] | None = None, timeout: float | None = None) -> SandboxSpec:
        """The sandbox ``argv`` would run in (the proxy is started if the network needs it)."""
        from codor.sandbox.spec import build_spec

        settings = self.settings
        if timeout is not None:
            limits = dataclasses.replace(settings.limits, wall_seconds=timeout)
            settings = dataclasses.replace(settings, limits=limits)
        source = {**self.env, **(env or {})}
        return build_spec(settings, argv, workspace=self.workspace, cwd=cwd, env=source,
                          codor_home=self.kernel.engine.policy.codor_home,
                          proxy_socket=self._proxy_socket())

    def explain(self, argv: Sequence[str], *, cwd: str | None = None) -> str:
        """What :meth:`run` would build, in words and as the backend's command line."""
        import json

        spec = self.spec(argv, cwd=cwd)
        return (f"backend: {self.choice.backend.name}\n" + self.choice.explain(spec)
                + "\nspec: " + json.dumps(spec.to_json(), indent=2))

    # -- running -----------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, cwd: str | None = None,
            env: Mapping[str, str] | None = None, timeout: float | None = None,
            stdin: bytes | None = None, inherit_stdio: bool = False) -> RunResult:
        """Run ``argv`` confined (no policy decision here: the caller decided and records
        the outcome)."""
        choice = self.choice
        spec = self.spec(argv, cwd=cwd, env=env, timeout=timeout)
        forwarders: list[ForwarderHandle] = []
        pool = self._forwarder_pool(spec) if choice.backend.name == "bubblewrap" else None

        def on_started(pid: int) -> None:
            if pool is not None:
                forwarders.append(pool.start(pid, timeout=10.0))

        try:
            return choice.run(spec, stdin=stdin, inherit_stdio=inherit_stdio,
                              on_started=on_started if choice.backend.name == "bubblewrap"
                              else None)
        finally:
            if pool is not None:
                for handle in forwarders:
                    pool.retire(handle)  # it ends now and is reaped later, off this path
                if self.spare:
                    pool.refill()  # the next command's forwarder starts now, off its path

    def _forwarder_pool(self, spec: SandboxSpec) -> ForwarderPool | None:
        """The forwarders for the egress proxy (``None`` without one), with a process started
        for this command (unless a spare is there)."""
        if spec.network != "proxy" or spec.proxy_socket is None:
            return None
        with self._setup:
            pool = self._forwarders
            if pool is None:  # the proxy, hence its socket, lives as long as the pool
                from codor.sandbox.forwarder import ForwarderPool
                from codor.sandbox.netutil import forwarded_ports

                pool = self._forwarders = ForwarderPool(
                    spec.proxy_socket, proxy_port=spec.proxy_port,
                    ports=forwarded_ports(self.kernel.engine.policy))
        pool.refill()  # a no-op when the spare is there; else it starts during bwrap's setup
        return pool

    def __call__(self, request: RunRequest) -> RunReport:
        """The tool router's :class:`~codor.runtime.commands.SandboxRunner`."""
        from codor.runtime.commands import RunReport

        argv = request.argv if request.argv is not None else ("/bin/sh", "-c",
                                                                request.command or "")
        result = self.run(argv, cwd=request.cwd, env=request.env, timeout=request.timeout)
        out, err = result.stdout, result.stderr
        started, ended = result.times_us()
        return RunReport(
            exit_status=result.exit_status,
            stdout=out.data if out else b"", stderr=err.data if err else b"",
            started=started, ended=ended,
            backend=result.backend, timed_out=result.timed_out,
            stdout_size=out.total if out else None, stderr_size=err.total if err else None,
            stdout_sha256=out.sha256 if out else None,
            stderr_sha256=err.sha256 if err else None, limits_hit=result.limits_hit)

    # -- the egress proxy --------------------------------------------------------------------
    def _proxy_socket(self) -> str | None:
        if self.settings.network != "proxy":
            return None
        with self._setup:
            if self._proxy is None:
                from codor.sandbox.netutil import AddressCheck
                from codor.sandbox.proxy import EgressProxy

                # a private directory outside the workspace: invisible inside the sandbox (its
                # /tmp is a fresh tmpfs); the forwarder reaches it from the host's view
                self._proxy_dir = tempfile.mkdtemp(prefix="codor-egress-")
                path = os.path.join(self._proxy_dir, "proxy.sock")
                fields: dict[str, Any] = {"origin": "codor-sandbox"}
                if self.session is not None:
                    fields["session"] = self.session
                if self.agent is not None:
                    fields["agent"] = {"id": self.agent.id, **(
                        {"role": self.agent.role} if self.agent.role else {})}
                self._proxy = EgressProxy(path, self.kernel.decide,
                                          AddressCheck.from_policy(self.kernel.engine.policy),
                                          self._record_event, action_fields=fields).start()
            return self._proxy.socket_path

    def _record_event(self, event: dict[str, Any]) -> None:
        """The proxy's events (refusals after an allow, upstream errors, closed connections
        with byte counts) go into the ledger in this session; called on the proxy's recorder
        thread. A store fault is not raised into the proxy (the connection is already over);
        the decisions of later requests fail closed on their own."""
        if self.kernel.ledger is None:
            return
        data = {k: v for k, v in event.items() if k not in ("event", "time")}
        with contextlib.suppress(Exception):
            self.kernel.record_event(self.session, str(event["event"]), data,
                                     observer="codor-sandbox", agent=self.agent)

    def close(self) -> None:
        with self._setup:
            pool, self._forwarders = self._forwarders, None
            proxy, self._proxy = self._proxy, None
            proxy_dir, self._proxy_dir = self._proxy_dir, None
        if pool is not None:
            pool.close()
        if proxy is not None:
            with contextlib.suppress(Exception):
                proxy.close()
        if proxy_dir is not None:
            shutil.rmtree(proxy_dir, ignore_errors=True)

    def __enter__(self) -> SandboxExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
