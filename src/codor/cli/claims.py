"""``codor claims verify|patterns|schema``: check an agent's report against the evidence."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codor.errors import InputError

__all__ = ["run_claims"]


def run_claims(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_FAILED, EXIT_OK

    if args.claims_command == "patterns":
        from codor.claims.patterns import GROUPS, PATTERNS

        for group, title in GROUPS.items():
            print(f"{title}:")
            for p in PATTERNS.values():
                if p.group == group:
                    print(f"  {p.id:<30} {p.severity:<8} {p.title}")
        return EXIT_OK
    if args.claims_command == "schema":
        from codor.claims.structured import CLAIMS_JSON_SCHEMA

        print(json.dumps(CLAIMS_JSON_SCHEMA, indent=2))
        return EXIT_OK
    report = _report_text(args.report)
    from codor.claims.verification import record, verify
    from codor.integrations.context import open_kernel
    from codor.workspace import WorkspaceError

    kernel = open_kernel(args.workspace, policy=args.policy, remote=False)
    try:
        if kernel.ledger is None:
            raise WorkspaceError("no ledger in this workspace; run `codor init` and record a "
                                 "session first")
        result = verify(kernel.ledger, args.session, report,
                        workspace=kernel.engine.policy.workspace,
                        settings=kernel.engine.policy.claims)
        if not args.no_record:
            result = record(kernel, result)
    finally:
        kernel.close()
    from codor.claims.render import to_html, to_table

    if args.html:
        Path(args.html).write_text(to_html(result), encoding="utf-8")
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(to_table(result, color=sys.stdout.isatty()))
    return EXIT_OK if result.passed else EXIT_FAILED


def _report_text(source: str | None) -> str | None:
    if source is None:
        return None
    from codor.cli.ledger import _read_input

    data = _read_input(source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"the report is not UTF-8 (byte {exc.start})",
                         location=source) from None
