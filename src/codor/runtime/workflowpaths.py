"""Path kinds as the workflow sees them: a path relative to the workspace
(:func:`relative_path`), and whether it is a test (:func:`codor.claims.pathkinds.is_test_path`,
or any file under a ``tests/``, ``test/``, ``__tests__/`` or ``testdata/`` directory) or code
(:func:`~codor.claims.pathkinds.is_code_path`). Symlinks are resolved first (a link under
``tests/`` to a file under ``src/`` is code). Otherwise pure: the phases' write rules
(:mod:`codor.runtime.workflow`), the exemptions (:mod:`codor.runtime.exemptions`), the actions
(:mod:`codor.runtime.workflowactions`) and the evidence (:mod:`codor.runtime.workflowevidence`)
all classify paths with it.
"""

from __future__ import annotations

import functools
import os
from typing import Final

__all__ = ["relative_path"]

_TEST_DIRS: Final = frozenset({"tests", "test", "__tests__", "testdata"})


def relative_path(path: str, cwd: str | None, workspace: str | None) -> tuple[str, bool]:
    """``path`` as the workflow classifies it, and whether it lies in the workspace: relative
    to the workspace when it does (joined with ``cwd`` first when relative), else the
    normalised absolute path, after symlinks are resolved (on disk, as far as the path exists).
    Without a workspace a relative path is taken as relative to it and an absolute one is
    kept."""
    from codor.policy.paths import normalize_path

    if workspace is None:
        if path.startswith("/"):
            return normalize_path(path), False
        return normalize_path(path, "/").lstrip("/") or ".", True
    base = cwd if cwd and cwd.startswith("/") else workspace
    try:
        full = normalize_path(path, base)
    except ValueError:
        return path, False
    root = workspace.rstrip("/") or "/"
    full, root = os.path.realpath(full), os.path.realpath(root)
    if full == root:
        return ".", True
    prefix = root + "/" if root != "/" else "/"
    if full.startswith(prefix):
        return full[len(prefix):], True
    return full, False


def _is_test(rel: str) -> bool:
    from codor.claims.pathkinds import is_test_path

    if is_test_path(rel):
        return True
    return any(part.lower() in _TEST_DIRS for part in rel.split("/")[:-1])


@functools.lru_cache(maxsize=4096)
def _kinds(rel: str) -> tuple[bool, bool]:
    """(test, code) for a workspace-relative path."""
    from codor.claims.pathkinds import is_code_path

    test = _is_test(rel)
    return test, (not test and is_code_path(rel))
