"""``codor policy lint|show|test|import`` and the signed bundles: ``codor policy
sign|verify-bundle|keygen``."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["run_policy"]


def run_policy(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_FAILED, EXIT_OK, find_workspace, resolve_policy
    from codor.policy import compile_ref

    if args.policy_command in ("sign", "verify-bundle", "keygen"):
        return _bundles(args)
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


def _bundles(args: argparse.Namespace) -> int:
    """``sign FILE --key K``, ``verify-bundle FILE``, ``keygen NAME`` (codor.policy.bundle)."""
    from pathlib import Path

    from codor.cli.main import EXIT_OK
    from codor.errors import InputError
    from codor.policy.bundle import read_signing_key, sign_bundle

    if args.policy_command == "keygen":
        return _keygen(args.name, Path(args.out))
    if args.policy_command == "sign":
        key = read_signing_key(args.key)
        source = Path(args.file)
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the policy: {exc}", location=args.file) from None
        data = sign_bundle(text, key)
        if args.output == "-":
            sys.stdout.buffer.write(data)
            return EXIT_OK
        name = source.name.removesuffix(".yaml").removesuffix(".yml")
        target = Path(args.output) if args.output else source.with_name(name + ".bundle.json")
        from codor.cli.ledger import _write

        _write(target, data.decode("ascii"))
        print(f"signed {args.file} with {key.name}+{key.key_id_hex}: {target}", file=sys.stderr)
        return EXIT_OK
    return _verify_bundle(args)


def _verify_bundle(args: argparse.Namespace) -> int:
    from codor.cli.ledger import _read_input
    from codor.cli.main import EXIT_OK, find_workspace
    from codor.integrations.context import codor_home
    from codor.policy.bundle import trusted_keys, verify_bundle

    workspace = find_workspace(args.workspace)
    trusted = trusted_keys(codor_home(workspace), args.key_file)
    text, keyid = verify_bundle(_read_input(args.file), trusted)
    signer = next(f"{k.name}+{k.key_id_hex}" for k in trusted if k.key_id_hex == keyid)
    if args.print:
        sys.stdout.write(text)
    else:
        import hashlib

        print(f"ok: signed by {signer}; policy sha256 (of its text) "
              f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}, {len(text)} characters")
    return EXIT_OK


def _keygen(name: str, out: object) -> int:
    import os
    from pathlib import Path

    from codor.cli.main import EXIT_OK
    from codor.evidence.keys import LogKey
    from codor.policy.bundle import PolicyBundleError

    assert isinstance(out, Path)
    key = LogKey.generate(name)
    secret, public = out / f"{name}.key", out / f"{name}.pub"
    out.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PolicyBundleError("already exists; refusing to overwrite a key",
                                location=str(secret)) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key.skey() + "\n")
    public.write_text(key.vkey() + "\n", encoding="utf-8")
    print(f"wrote {secret} (secret, 0600) and {public}; trust it with: cp {public} "
          ".codor/policy-keys/", file=sys.stderr)
    print(key.vkey())
    return EXIT_OK
