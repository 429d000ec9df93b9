"""A file as it was when the session began and as it is now: what the change detectors read."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Change"]


@dataclass(frozen=True, slots=True)
class Change:
    """One changed file: ``path`` relative to the workspace (POSIX separators), its text at
    the session's start (``None``: it did not exist) and now (``None``: deleted). Binary or
    undecodable files are not given as changes."""

    path: str
    before: str | None
    after: str | None

    @property
    def added(self) -> bool:
        return self.before is None and self.after is not None

    @property
    def deleted(self) -> bool:
        return self.before is not None and self.after is None
