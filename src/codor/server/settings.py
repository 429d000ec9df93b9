"""The daemon's settings: defaults, then ``.codor/server.yaml`` (or ``--config``), then
``CODOR_SERVE_*`` environment variables, then command-line flags — validated once, frozen, and
passed down (nothing reads the environment later).

Secrets are never defaults: the session-cookie secret is generated on first start and kept in
``.codor/server/secret`` (0600); a configured secret that is short or a known example value
makes the daemon refuse to start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from codor.errors import CodorError

__all__ = ["ENV_PREFIX", "ServerSettings", "SettingsError", "load_settings"]

ENV_PREFIX: Final = "CODOR_SERVE_"

#: values copied from docs and examples; a deployment using one is misconfigured
_EXAMPLE_SECRETS: Final = frozenset({
    "changeme", "change-me", "change_me", "secret", "example", "password", "codor", "admin",
    "test", "default", "replace-me", "your-secret-here", "xxxxxxxx",
})
_MIN_SECRET: Final = 32


class SettingsError(CodorError):
    """The daemon's configuration is invalid (file, environment or flags)."""

    code = "E_SETTINGS"


class ServerSettings(BaseModel):
    """Everything ``codor serve`` needs, validated once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workspace: Path
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    #: ``postgresql://...`` to share one log between daemons; default: the workspace ledger
    ledger: str | None = None
    #: where approvals and API keys live; default: the PostgreSQL ledger's database, else
    #: ``.codor/state.db``
    state: str | None = None
    policy: str | None = None
    #: the log's origin line (daemons sharing one log must agree; default derived)
    origin: str | None = None
    #: how long a person has to answer an approval before the policy's timeout effect applies
    approval_timeout_s: float = Field(300.0, gt=0, le=7 * 24 * 3600)
    #: the longest a single request waits for an approval (long-poll)
    approval_wait_s: float = Field(30.0, ge=0, le=600)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    max_batch: int = Field(1000, ge=1, le=100_000)
    #: requests per second per API key (token bucket), and the bucket's size
    rate_limit: float = Field(5000.0, gt=0)
    rate_burst: int = Field(10_000, ge=1)
    webhooks: tuple[str, ...] = ()
    nats_url: str | None = None
    session_secret: str | None = None
    #: mark the dashboard's cookie Secure (behind TLS); off for plain-HTTP loopback
    secure_cookies: bool = False
    log_level: str = "warning"
    #: daemon processes serving one socket (``codor serve``). More than one can use every
    #: core (the GIL caps one process at about one core); each worker opens its own ledger
    #: handle (the stores take concurrent writers), engine and kernel, and keeps its own
    #: rate-limit buckets (a key's effective limit is ``workers`` × ``rate_limit``) and
    #: session cache (a session first seen by two workers gets a start record from each).
    #: Meant for a PostgreSQL ledger: on the SQLite file the workers take turns at its one
    #: write lock (a group commit holds it up to its flush interval), which measured slower
    #: with a far worse tail than one process (benchmarks/server.py --workers 2).
    workers: int = Field(1, ge=1, le=64)

    @field_validator("session_secret")
    @classmethod
    def _real_secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.strip().lower() in _EXAMPLE_SECRETS or len(set(value)) < 8:
            raise ValueError("is a default or example value; generate one with "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
        if len(value) < _MIN_SECRET:
            raise ValueError(f"is shorter than {_MIN_SECRET} characters")
        return value

    @field_validator("ledger", "state")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is not None and "://" in value and \
                not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL or a file path")
        return value

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    # -- derived ---------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        env = os.environ.get("CODOR_HOME")
        return Path(env).absolute() if env else self.workspace / ".codor"

    @property
    def server_dir(self) -> Path:
        return self.home / "server"

    @property
    def state_target(self) -> str:
        if self.state is not None:
            return self.state
        if self.ledger is not None and self.ledger.startswith(("postgresql://", "postgres://")):
            return self.ledger
        return str(self.home / "state.db")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def cookie_secret(self) -> str:
        """The configured secret, else the one generated on first start (kept 0600)."""
        if self.session_secret is not None:
            return self.session_secret
        path = self.server_dir / "secret"
        try:
            return _read_or_create_secret(path)
        except OSError as exc:
            raise SettingsError(f"cannot keep the cookie secret: {exc}",
                                location=str(path)) from None


def _read_or_create_secret(path: Path) -> str:
    """The secret in ``path``; made when missing. Workers starting together agree on one: the
    new secret is written to a private file first and linked into place (``link`` fails when
    another worker's is already there — that one is used); a secret too short to be one is
    replaced."""
    def existing() -> str | None:
        if not path.is_file():
            return None
        value = path.read_text(encoding="utf-8").strip()
        return value if len(value) >= _MIN_SECRET else None

    found = existing()
    if found is not None:
        return found
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            found = existing()
            if found is not None:
                return found  # another worker made it first
            os.replace(tmp, path)  # a broken secret: replaced
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return value


_FIELDS: Final = frozenset(ServerSettings.model_fields)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in _FIELDS:
            raise SettingsError(f"unknown setting {name!r}", location=key)
        out[name] = [v for v in value.split(",") if v] if name == "webhooks" else value
    return out


def _from_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read: {exc.strerror}", location=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise SettingsError(f"not valid YAML: {getattr(exc, 'problem', exc)}",
                            location=where) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError("must be a mapping of settings", location=str(path))
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r}", location=str(path))
    return dict(data)


def load_settings(workspace: Path, *, config: Path | None = None,
                  env: Mapping[str, str] | None = None, **flags: Any) -> ServerSettings:
    """Merge defaults < config file < environment < flags (``None`` flags are unset) and
    validate once. Raises :class:`SettingsError` naming the setting and where it came from."""
    env = os.environ if env is None else env
    home = Path(env.get("CODOR_HOME") or workspace / ".codor")
    file = config if config is not None else home / "server.yaml"
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config is not None or file.is_file():
        loaded = _from_file(file)
        merged.update(loaded)
        sources.update(dict.fromkeys(loaded, str(file)))
    loaded = _from_env(env)
    merged.update(loaded)
    sources.update({k: ENV_PREFIX + k.upper() for k in loaded})
    given = {k: v for k, v in flags.items() if v is not None}
    merged.update(given)
    sources.update({k: f"--{k.replace('_', '-')}" for k in given})
    merged["workspace"] = workspace
    try:
        return ServerSettings(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "settings"
        msg = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name} {msg}" if not msg.startswith(name) else msg,
                            location=sources.get(name, name)) from None
