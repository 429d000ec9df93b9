"""The ``codor`` command line; the only place where errors become exit codes."""

from __future__ import annotations

__all__ = ["main"]


def main() -> int:
    from codor.cli.main import main as _main

    return _main()
