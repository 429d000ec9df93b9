"""``codor policy lint|show|test|import``."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["run_policy"]


def run_policy(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_FAILED, EXIT_OK, find_workspace, resolve_policy
    from codor.policy import compile_ref

    if args.policy_command == "import":
        from codor.integrations.clawdstrike import import_policy_file

        text = import_policy_file(args.file)
        if args.output == "-":
            sys.stdout.write(text)
        else:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
        return EXIT_OK

    workspace = find_workspace(args.workspace)
    ref = resolve_policy(args.policy, workspace)

    if args.policy_command == "lint":
        from codor.policy.lint import lint_policy

        problems = lint_policy(lambda: compile_ref(ref, workspace=workspace))
        for problem in problems:
            print(problem)
        errors = sum(p.level == "error" for p in problems)
        warnings = sum(p.level == "warning" for p in problems)
        print(f"{ref}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
        if errors or (args.strict and warnings):
            return EXIT_FAILED
        return EXIT_OK

    compiled = compile_ref(ref, workspace=workspace)
    try:
        if args.policy_command == "show":
            body = {"sha256": compiled.sha256, "sources": list(compiled.files),
                    **compiled.document.to_json()}
            if args.format == "json":
                print(json.dumps(body, indent=2, ensure_ascii=False))
            else:
                import yaml

                sys.stdout.write(yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
            return EXIT_OK

        from codor.policy.engine import Engine
        from codor.policy.lint import run_policy_tests

        engine = Engine(compiled)
        results = run_policy_tests(engine.decide, compiled)
        for result in results:
            print(result)
        failed = sum(not r.passed for r in results)
        print(f"{len(results) - failed} passed, {failed} failed")
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        compiled.close()
