"""``codor apikey create|list|revoke``: the daemon's API keys, straight in its state database
(``.codor/state.db``, or the one ``server.yaml``/``--state`` names), so that an admin who
lost every admin token can make a new one on the daemon's host. A running daemon sees a new
key at once and a revocation within seconds (its key cache)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["run_apikey"]


def run_apikey(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_OK, find_workspace
    from codor.server.keys import KeyStore
    from codor.server.settings import load_settings
    from codor.statedb import StateDB

    workspace = Path(find_workspace(args.workspace))
    settings = load_settings(workspace, state=args.state)
    db = StateDB.open(settings.state_target)
    try:
        keys = KeyStore(db)
        if args.apikey_command == "create":
            key, token = keys.create(args.name, args.role)
            print(f"created {key.role} key {key.id} ({key.name}); its token, shown this once:",
                  file=sys.stderr)
            print(token)
        elif args.apikey_command == "revoke":
            key = keys.revoke(args.id)
            print(f"revoked {key.role} key {key.id} ({key.name})")
        elif args.json:
            print(json.dumps([k.to_json() for k in keys.list()]))
        else:
            for k in keys.list():
                state = "revoked" if k.revoked is not None else "active"
                print(f"{k.id}  {k.role:<8}  {state:<7}  {k.name}")
    finally:
        db.close()
    return EXIT_OK
