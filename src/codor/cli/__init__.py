"""The ``codor`` command line; the only place where errors become exit codes."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> int:
    """The ``codor`` executable. ``codor hook <agent>`` runs on every tool call of an agent,
    so it goes straight to :func:`codor.cli.hook.main_hook`, before the argument parser and
    the rest of the command line are even imported."""
    argv = sys.argv[1:]
    if argv[:1] == ["hook"] and len(argv) > 1 and not argv[1].startswith("-"):
        from codor.cli.hook import main_hook

        return main_hook(argv[1:])
    from codor.cli.main import main as _main

    return _main(argv)
