"""``codor token issue|delegate|revoke``: capability tokens (:mod:`codor.policy.tokens`).

Tokens are signed with the workspace's issuer key, ``.codor/keys/token.key`` (Ed25519, PKCS#8
PEM, mode 0600; ``issue`` makes it on first use, with ``.codor/keys/token.pub`` beside it).
The token goes to stdout, a one-line summary to stderr (``--json``: token and claims as one
JSON object). Revocations go to the state database (``.codor/state.db``, or the one
``server.yaml``/``--state`` names), where every verifier using
:class:`codor.policy.tokenstore.StateRevocationList` sees them within seconds; revoking a
token revokes every token delegated from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_token_parser", "run_token"]


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def add_token_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """The ``codor token`` subcommands (called by :func:`codor.cli.main.build_parser`)."""
    token = sub.add_parser("token", help="issue, delegate or revoke capability tokens")
    tsub = token.add_subparsers(dest="token_command", parser_class=parser_class, required=True)
    issue = tsub.add_parser("issue", help="sign a new token with the workspace's issuer key")
    issue.add_argument("--sub", required=True, metavar="AGENT", help="the agent it is for")
    issue.add_argument("--kinds", required=True,
                       help="action kinds, comma-separated (file.read,file.write or file.*)")
    delegate = tsub.add_parser("delegate", help="derive a narrower child token from a token")
    delegate.add_argument("token", help="the parent token (- reads it from stdin)")
    delegate.add_argument("--kinds", default=None, help="narrower kinds (default: the parent's)")
    delegate.add_argument("--sub", default=None, metavar="AGENT",
                          help="the agent it is for (default: the parent's)")
    for p in (issue, delegate):
        p.add_argument("--paths", default=None,
                       help="path globs, comma-separated (default: unlimited / the parent's)")
        p.add_argument("--ttl", type=float, default=None, metavar="S",
                       help="seconds of validity (issue: default 3600; delegate: default "
                            "until the parent expires)")
        p.add_argument("--uses", type=int, default=None,
                       help="maximum uses (issue: default 1; delegate: default the parent's)")
        p.add_argument("--sandbox", default=None, help="bind the token to one sandbox id")
        p.add_argument("--json", action="store_true", help="print token and claims as JSON")
    revoke = tsub.add_parser("revoke", help="revoke a token (and all its children) by token "
                                            "or id")
    revoke.add_argument("token", metavar="TOKEN_OR_ID")
    revoke.add_argument("--reason", default="", help="why (kept with the revocation)")
    revoke.add_argument("--state", default=None,
                        help="the state database (default: as `codor serve` finds it)")
    for p in (issue, delegate, revoke):
        p.add_argument("--workspace", "-w", default=None)


def _emit(token: str, args: argparse.Namespace, verb: str) -> None:
    from codor.policy.tokens import read_claims

    claims = read_claims(token)
    if args.json:
        shown = claims.to_json()
        shown.pop("proof", None)
        print(json.dumps({"token": token, "claims": shown}))
        return
    scope = ",".join(claims.kinds) + (f" on {','.join(claims.paths)}" if claims.paths else "")
    parent = f", child of {claims.parent}" if claims.parent else ""
    print(f"{verb} token {claims.id} for {claims.sub}: {scope}; {claims.uses} use(s) until "
          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(claims.exp))}{parent}",
          file=sys.stderr)
    print(token)


def _record(workspace: Path, event: str, token: str | None,
            data: dict[str, Any] | None = None) -> None:
    """Record the change in the workspace's ledger (session ``codor-admin``), when it has
    one: the token's claims, never the token itself."""
    from codor.cli.statectx import who
    from codor.integrations.context import open_kernel
    from codor.model import Agent
    from codor.policy.tokens import read_claims
    from codor.runtime.registry import ADMIN_SESSION

    if token is not None:
        data = read_claims(token).to_json()
        data.pop("proof", None)
    kernel = open_kernel(workspace, remote=False)
    try:
        kernel.record_event(ADMIN_SESSION, event, {"by": who("codor token"),
                                                   **(data or {})},
                            agent=Agent(ADMIN_SESSION))
    finally:
        kernel.close()


def run_token(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_OK, EXIT_USAGE, codor_home, find_workspace
    from codor.policy import tokens
    from codor.policy.tokenstore import StateRevocationList, load_issuer_key

    workspace = Path(find_workspace(args.workspace))
    home = codor_home(workspace)
    command = args.token_command
    if command in ("issue", "delegate"):
        kinds = _csv(args.kinds)
        paths = _csv(args.paths)
        if kinds is not None and not kinds:
            print("codor: --kinds names no kind [E_USAGE]", file=sys.stderr)
            return EXIT_USAGE
        now = time.time()
        if command == "issue":
            key = load_issuer_key(home, create=True)
            token = tokens.issue_token(
                key, agent=args.sub, kinds=kinds or [], now=now,
                ttl=3600.0 if args.ttl is None else args.ttl,
                uses=1 if args.uses is None else args.uses, paths=paths or [],
                sandbox=args.sandbox)
            _emit(token, args, "issued")
            _record(workspace, "token.issued", token)
        else:
            given: str = args.token
            parent = sys.stdin.read().strip() if given == "-" else given.strip()
            key = load_issuer_key(home)
            token = tokens.delegate(
                parent, key, kinds=kinds, paths=paths,
                exp=None if args.ttl is None else now + args.ttl, uses=args.uses,
                sub=args.sub, sandbox=args.sandbox, now=now)
            _emit(token, args, "delegated")
            _record(workspace, "token.delegated", token)
        return EXIT_OK

    from codor.server.settings import load_settings
    from codor.statedb import StateDB

    text = args.token.strip()
    token_id = tokens.read_claims(text).id if text.startswith(tokens.PREFIX) else text
    if not token_id or any(c.isspace() for c in token_id):
        print("codor: not a token or token id [E_USAGE]", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings(workspace, state=args.state)
    db = StateDB.open(settings.state_target)
    try:
        StateRevocationList(db).revoke(token_id, args.reason)
    finally:
        db.close()
    _record(workspace, "token.revoked", None, {"id": token_id, "reason": args.reason})
    print(f"revoked token {token_id} (and every token delegated from it)")
    return EXIT_OK
