#!/usr/bin/env python3
"""Write ``src/codor/policy/rulesets/<name>.json``: each built-in ruleset pre-parsed, with its
line numbers, so loading one needs no YAML parser. Run after editing a ruleset's YAML; a
stale file is ignored at run time (its ``yaml_sha256`` no longer matches) and fails the test
``tests/policy/test_loader.py::test_prebuilt_rulesets_are_current``.

    .venv/bin/python scripts/prebuild_rulesets.py [--check]
"""

from __future__ import annotations

import argparse
import sys

from codor.policy.loader import _RULESETS_DIR, BUILTIN_RULESETS, render_prebuilt_ruleset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    args = parser.parse_args()
    stale = []
    for name in BUILTIN_RULESETS:
        path = _RULESETS_DIR / f"{name}.json"
        want = render_prebuilt_ruleset(name)
        have = path.read_text("utf-8") if path.exists() else None
        if have == want:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(want, "utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print("stale: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
