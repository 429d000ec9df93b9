"""A real CODOR daemon for the integration tests: :mod:`tests.server.daemonproc` on a
workspace, with the URL and first admin token it printed on start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.daemonproc import start


class DaemonProcess:
    """``codor serve`` on ``workspace`` (``env``: extra environment, e.g. short approval
    timeouts); ``url`` and ``token`` (the admin key); :meth:`stop` ends it."""

    def __init__(self, workspace: Path, env: dict[str, str] | None = None) -> None:
        self.workspace = workspace
        self._daemon = start(workspace, env=env)
        self.proc = self._daemon.proc
        self.url = self._daemon.url
        assert self._daemon.admin is not None, "no admin token announced"
        self.token: str = self._daemon.admin

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        return self._daemon.api(method, path, body, token or self.token)

    def stop(self) -> None:
        self._daemon.stop()
