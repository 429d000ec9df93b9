"""Scanning MCP tool results before the client sees them: secrets redacted, text for injection.

:func:`scan_result` takes a ``tools/call`` result in its JSON wire form and returns a copy in
which every credential the secret scanner finds (:func:`~codor.policy.secret_scanner.
default_scanner`) is replaced by ``[REDACTED:<kind>]`` — in text blocks, embedded resource
text, resource links, ``structuredContent`` and ``_meta``; base64 payloads (``data``,
``blob``) and the ``type``/``mimeType`` tags are left alone — with the count of redactions
per kind, and the text the injection guard judges (as ``content.inbound {source: tool}``):
every string of the content blocks, then the strings of ``structuredContent`` that are not
already among them (servers often repeat their text there), one per line, after redaction.

:func:`warning_block` and :func:`refusal` build the blocks the gateway adds or answers with.
Nothing here imports the MCP SDK.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from codor.policy.secret_scanner import SecretScanner, default_scanner

__all__ = ["ScannedResult", "refusal", "scan_result", "warning_block"]

#: keys whose string values are never scanned: base64 payloads and protocol tags
_SKIP: Final = frozenset({"data", "blob", "type", "mimeType"})


@dataclass(frozen=True, slots=True)
class ScannedResult:
    """``result``: what may go to the client (secrets redacted; the input object itself when
    nothing was found); ``secrets``: redactions per kind; ``text``: what the injection guard
    judges (empty when the result carries no text)."""

    result: Mapping[str, Any]
    secrets: Mapping[str, int] = field(default_factory=dict)
    text: str = ""

    @property
    def redacted(self) -> int:
        return sum(self.secrets.values())


class _Walker:
    __slots__ = ("counts", "scanner", "strings")

    def __init__(self, scanner: SecretScanner) -> None:
        self.scanner = scanner
        self.counts: Counter[str] = Counter()
        self.strings: list[str] = []

    def text(self, value: str) -> str:
        matches = self.scanner.scan(value)
        if matches:
            self.counts.update(m.kind for m in matches)
            value = self.scanner.redact(value)
        return value

    def walk(self, value: Any, collect: bool) -> Any:
        """``value`` with its strings redacted (the same object when nothing changed)."""
        if isinstance(value, str):
            out = self.text(value)
            if collect and out:
                self.strings.append(out)
            return out
        if isinstance(value, Mapping):
            changed = False
            items: dict[str, Any] = {}
            for key, item in value.items():
                new = item if key in _SKIP else self.walk(item, collect)
                changed = changed or new is not item
                items[key] = new
            return items if changed else value
        if isinstance(value, list | tuple):
            new_items = [self.walk(item, collect) for item in value]
            if any(a is not b for a, b in zip(new_items, value, strict=True)):
                return new_items
            return value
        return value


def scan_result(result: Mapping[str, Any], scanner: SecretScanner | None = None) -> ScannedResult:
    """Redact secrets from a ``tools/call`` result (wire form) and gather its text (see the
    module doc). Never raises for any JSON value."""
    walker = _Walker(scanner or default_scanner())
    out = dict(result)
    changed = False
    content = result.get("content")
    if content is not None:
        new = walker.walk(content, True)
        changed = new is not content
        out["content"] = new
    seen = set(walker.strings)
    structured = result.get("structuredContent")
    if structured is not None:
        before = len(walker.strings)
        new = walker.walk(structured, True)
        changed = changed or new is not structured
        out["structuredContent"] = new
        extra = [s for s in walker.strings[before:] if s not in seen]
        del walker.strings[before:]
        walker.strings.extend(extra)
    meta = result.get("_meta")
    if meta is not None:
        new = walker.walk(meta, False)
        changed = changed or new is not meta
        out["_meta"] = new
    return ScannedResult(out if changed else result, dict(walker.counts),
                         "\n".join(walker.strings))


def warning_block(message: str) -> dict[str, Any]:
    """A text content block that says ``message`` as CODOR's warning."""
    return {"type": "text", "text": f"[CODOR warning] {message}"}


def refusal(message: str) -> dict[str, Any]:
    """A ``tools/call`` error result (``isError: true``) whose only block is ``message``."""
    return {"content": [{"type": "text", "text": message}], "isError": True,
            "resultType": "complete"}
