"""Tool pinning (the rug-pull defence): what each upstream tool looked like when first seen.

On first sight of a tool the gateway stores the sha256 of each of its model-facing fields
(:data:`PIN_FIELDS`: ``title``, ``description``, ``inputSchema``, ``outputSchema``,
``annotations``; each over the field's RFC 8785 canonical JSON, an absent field counting as
``null``) in ``<CODOR home>/mcp-pins.json`` (default ``.codor/mcp-pins.json``), keyed by the
upstream's identity (its command line or URL, not the name it reports) and the tool's name.
When a pinned tool later looks different, :meth:`PinStore.check` reports a :class:`PinChange`
naming the fields that changed, and the pin stays as it was: only a person re-pins
(:meth:`PinStore.repin`, ``codor mcp gateway ... --repin``, or deleting the tool's entry).

The file::

    {"format": "codor-mcp-pins/1",
     "upstreams": {"stdio:npx -y @modelcontextprotocol/server-filesystem /srv": {
         "server": "secure-filesystem-server",
         "tools": {"read_file": {"sha256": "<of the field digests>", "pinned_at": "...Z",
                                 "fields": {"description": "<sha256>", ...}}}}}}

Writes are atomic (a temporary file in the same directory, fsync, rename) and serialised
between processes by an exclusive lock on ``mcp-pins.json.lock``; each write re-reads the file
under the lock and only adds to it, so two gateways pinning at once lose nothing. The file is
inside CODOR's state directory, which the built-in protections keep agents from writing.
Nothing here imports the MCP SDK: tools are plain JSON objects (wire names).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from codor.canonical import canonical_sha256
from codor.integrations.mcp.errors import PinFileError

__all__ = ["PIN_FIELDS", "PIN_FORMAT", "PinChange", "PinStore", "tool_fingerprint"]

PIN_FORMAT: Final = "codor-mcp-pins/1"
#: The fields of a tool (wire names) whose change makes its calls need a person's re-pin.
PIN_FIELDS: Final = ("title", "description", "inputSchema", "outputSchema", "annotations")


def tool_fingerprint(tool: Mapping[str, Any]) -> dict[str, str]:
    """The sha256 of each of :data:`PIN_FIELDS` of ``tool`` (a ``tools/list`` entry in its wire
    form), over the field's canonical JSON; an absent field hashes as ``null``."""
    out: dict[str, str] = {}
    for name in PIN_FIELDS:
        try:
            out[name] = canonical_sha256(tool.get(name))
        except (TypeError, ValueError):  # NaN or a non-JSON value: its repr still pins it
            out[name] = canonical_sha256(repr(tool.get(name)))
    return out


def _overall(fields: Mapping[str, str]) -> str:
    return canonical_sha256(dict(fields))


@dataclass(frozen=True, slots=True)
class PinChange:
    """A pinned tool that no longer looks as pinned: which fields changed, and since when the
    pin holds."""

    tool: str
    fields: tuple[str, ...]
    pinned_at: str

    def describe(self) -> str:
        """``"description, inputSchema"``: what a refusal message names."""
        return ", ".join(self.fields)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class PinStore:
    """The pin file at ``path`` (see the module doc). Reads are cheap; writes happen only when
    a tool is pinned for the first time or re-pinned."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- reading --------------------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        """The whole file as JSON (an empty store when it does not exist yet).
        Raises :class:`PinFileError` for a file that is unreadable or not a pin file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"format": PIN_FORMAT, "upstreams": {}}
        except OSError as exc:
            raise PinFileError(f"cannot read the pin file: {exc.strerror}",
                               location=str(self.path)) from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PinFileError(f"the pin file is not valid JSON: {exc}",
                               location=str(self.path)) from None
        if not isinstance(data, dict) or data.get("format") != PIN_FORMAT or \
                not isinstance(data.get("upstreams"), dict):
            raise PinFileError(f"not a CODOR pin file (expected format {PIN_FORMAT!r})",
                               location=str(self.path))
        for upstream, entry in data["upstreams"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("tools"), dict) or \
                    not all(_valid_pin(p) for p in entry["tools"].values()):
                raise PinFileError(f"malformed pins for upstream {upstream!r}",
                                   location=str(self.path))
        return data

    def pins(self, upstream: str) -> dict[str, Any]:
        """The pinned tools of ``upstream``: tool name → pin entry."""
        entry = self.load()["upstreams"].get(upstream)
        return dict(entry["tools"]) if entry else {}

    # -- checking and pinning -------------------------------------------------------------------
    def check(self, upstream: str, tools: Sequence[Mapping[str, Any]], *,
              server: str | None = None) -> dict[str, PinChange]:
        """Compare ``tools`` (wire-form ``tools/list`` entries) with their pins: tools never
        seen are pinned now (trust on first use, one atomic write for all of them); pinned
        tools that look different are returned as :class:`PinChange` by name, their pins kept."""
        pinned = self.pins(upstream)
        changes: dict[str, PinChange] = {}
        fresh: dict[str, dict[str, str]] = {}
        for tool in tools:
            name = tool.get("name")
            if not isinstance(name, str):
                continue
            current = tool_fingerprint(tool)
            pin = pinned.get(name)
            if pin is None:
                fresh[name] = current
            elif pin["sha256"] != _overall(current):
                old = pin["fields"]
                changed = tuple(f for f in PIN_FIELDS if old.get(f) != current[f])
                changes[name] = PinChange(name, changed or ("definition",),
                                          str(pin.get("pinned_at", "")))
        if fresh:
            self._write(upstream, server, fresh, replace=False)
        return changes

    def repin(self, upstream: str, tools: Sequence[Mapping[str, Any]], *,
              names: Iterable[str] | None = None, server: str | None = None) -> list[str]:
        """Pin ``tools`` as they look now, replacing their pins (all of them, or only those in
        ``names``); returns the names re-pinned. This is a person's act: the gateway never
        calls it on its own."""
        wanted = None if names is None else set(names)
        current = {t["name"]: tool_fingerprint(t) for t in tools
                   if isinstance(t.get("name"), str) and (wanted is None or t["name"] in wanted)}
        if current:
            self._write(upstream, server, current, replace=True)
        return sorted(current)

    # -- writing --------------------------------------------------------------------------------
    def _write(self, upstream: str, server: str | None, fingerprints: Mapping[str, Mapping[str,
               str]], *, replace: bool) -> None:
        with self._locked():
            data = self.load()  # under the lock: another gateway may have written meanwhile
            entry = data["upstreams"].setdefault(upstream, {"tools": {}})
            if server is not None:
                entry["server"] = server
            stamp = _now()
            for name, fields in fingerprints.items():
                if replace or name not in entry["tools"]:
                    entry["tools"][name] = {"sha256": _overall(fields), "fields": dict(fields),
                                            "pinned_at": stamp}
            self._replace(data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(self.path.name + ".lock"),
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise PinFileError(f"cannot lock the pin file: {exc.strerror}",
                               location=str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _replace(self, data: Mapping[str, Any]) -> None:
        text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise PinFileError(f"cannot write the pin file: {exc.strerror}",
                               location=str(self.path)) from None


def _valid_pin(pin: Any) -> bool:
    return isinstance(pin, dict) and isinstance(pin.get("sha256"), str) and \
        isinstance(pin.get("fields"), dict)

