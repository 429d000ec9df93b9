"""The CODOR daemon: an HTTP API (decisions, outcomes, ledger, approvals, claims, policy),
API keys with roles, metrics and the dashboard, built by :func:`create_app` from validated
:class:`ServerSettings`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codor.server.app import create_app
    from codor.server.daemon import Daemon
    from codor.server.settings import ServerSettings, SettingsError, load_settings

__all__ = ["Daemon", "ServerSettings", "SettingsError", "create_app", "load_settings"]

_HOME = {"create_app": "codor.server.app", "Daemon": "codor.server.daemon",
         "ServerSettings": "codor.server.settings", "SettingsError": "codor.server.settings",
         "load_settings": "codor.server.settings"}


def __getattr__(name: str) -> Any:  # lazy: importing the package does not import FastAPI
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(name)
