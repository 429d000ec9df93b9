"""Replace a file whole: write a temporary file beside it, then rename it over the target, so a
reader sees the old content or the new, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600,
                 durable: bool = True) -> None:
    """Write ``data`` to ``path`` (file mode ``mode``) through a temporary file in the same
    directory and a rename; ``durable`` syncs the data to disk before the rename. On failure
    the temporary file is removed and the error (an :class:`OSError`) propagates."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
