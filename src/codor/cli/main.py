"""The ``codor`` command. Parsing is argparse (fast to import); each subcommand imports what it
needs only when it runs, so hooks and ``codor check`` start quickly.

Exit codes: 0 success (also when an action is denied), 1 a check failed (policy tests, lint
errors), 2 bad input or configuration, 3 internal error. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from codor.errors import CodorError
from codor.integrations.context import codor_home, find_workspace, resolve_policy

__all__ = ["codor_home", "find_workspace", "main", "resolve_policy"]

#: the agents ``codor hook`` and ``codor install`` know
AGENTS = ("claude-code", "codex", "gemini")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"codor: {message} [E_USAGE]\n")
        raise SystemExit(EXIT_USAGE)


def _add_policy_args(p: argparse.ArgumentParser, *, positional: bool = False) -> None:
    if positional:
        p.add_argument("policy", nargs="?", default=None,
                       help="policy file or built-in ruleset (codor:default ...)")
    else:
        p.add_argument("--policy", "-p", default=None,
                       help="policy file or built-in ruleset (default: .codor/policy.yaml, "
                            "else codor:coding-assistant)")
    p.add_argument("--workspace", "-w", default=None,
                   help="the agent's workspace (default: nearest directory with .codor/, else cwd)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codor", description="Decide, confine, record and verify what AI "
                                               "agents do.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    check = sub.add_parser("check", help="decide actions (JSON Lines in, decisions out)")
    _add_policy_args(check)
    check.add_argument("--format", choices=("codor", "clawdstrike"), default="codor",
                       help="input format: CODOR actions or Clawdstrike PolicyEvent v1")
    check.add_argument("--pretty", action="store_true",
                       help="print a readable line per decision instead of JSON")
    check.add_argument("--no-record", action="store_true",
                       help="do not record these decisions in the workspace ledger")
    check.add_argument("input", nargs="?", default="-",
                       help="an action as JSON text, a .jsonl file, or - for stdin (default)")

    policy = sub.add_parser("policy", help="lint, show, test or import policies")
    psub = policy.add_subparsers(dest="policy_command", parser_class=_Parser, required=True)
    for name, text in (("lint", "report errors and warnings with file:line"),
                       ("show", "print the merged policy"),
                       ("test", "run the policy's own tests: section")):
        p = psub.add_parser(name, help=text)
        _add_policy_args(p, positional=True)
        if name == "show":
            p.add_argument("--format", choices=("yaml", "json"), default="yaml")
        if name == "lint":
            p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    # -- signed policy bundles (codor.policy.bundle; codor.cli.policy) --
    psign = psub.add_parser("sign", help="sign a policy file into a bundle (FILE.bundle.json)")
    psign.add_argument("file", help="the policy YAML file")
    psign.add_argument("--key", required=True, help="the signer key file (mode 0600)")
    psign.add_argument("--output", "-o", default=None,
                       help="where to write (default: FILE with .bundle.json; - for stdout)")
    pverify = psub.add_parser("verify-bundle", help="verify a signed policy bundle against "
                              ".codor/policy-keys/*.pub (and --key-file)")
    pverify.add_argument("file", help="the bundle (- for stdin)")
    pverify.add_argument("--key-file", action="append", default=[],
                         help="more trusted verifier keys (one per line); repeatable")
    pverify.add_argument("--print", action="store_true", help="print the signed policy")
    pverify.add_argument("--workspace", "-w", default=None)
    pkeygen = psub.add_parser("keygen", help="make a policy signer key: NAME.key (0600) "
                              "and NAME.pub (put it in .codor/policy-keys/)")
    pkeygen.add_argument("name", help="the key's name (no spaces or '+')")
    pkeygen.add_argument("--out", default=".", help="directory to write to (default: .)")
    init = sub.add_parser("init", help="create .codor/ (policy, log key, ledger) in a workspace")
    init.add_argument("--workspace", "-w", default=None, help="default: the current directory")
    init.add_argument("--key-name", default=None, help="name of the log key (default: host)")

    keys = sub.add_parser("keys", help="the ledger's signing key")
    ksub = keys.add_subparsers(dest="keys_command", parser_class=_Parser, required=True)
    for name, text in (("init", "create the log key (refuses to overwrite)"),
                       ("rotate", "make a new log key; old checkpoints stay verifiable"),
                       ("show", "print the public (verifier) keys")):
        p = ksub.add_parser(name, help=text)
        p.add_argument("--workspace", "-w", default=None)
        if name != "show":
            p.add_argument("--name", default=None, help="key name")

    ledger = sub.add_parser("ledger", help="verify, prove and read the workspace ledger")
    lsub = ledger.add_subparsers(dest="ledger_command", parser_class=_Parser, required=True)
    lv = lsub.add_parser("verify", help="check every entry, the hash chain, the Merkle tree "
                                        "and every signed checkpoint")
    lv.add_argument("--json", action="store_true", help="print the report as JSON")
    lv.add_argument("--from-checkpoint", metavar="F", default=None,
                    help="also prove the log is an append-only extension of the signed "
                         "checkpoint in file F (one you saved earlier, or a witness's)")
    lp = lsub.add_parser("prove", help="print an inclusion proof of entry N and a checkpoint")
    lp.add_argument("index", type=int)
    lp.add_argument("--json", action="store_true")
    lsub.add_parser("checkpoint", help="sign a checkpoint of the current log and print it")
    lt = lsub.add_parser("tail", help="print the last entries (JSON Lines)")
    lt.add_argument("-n", type=int, default=10, help="how many (default 10)")
    lt.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    le = lsub.add_parser("export", help="export a session's evidence: an offline bundle (entries, "
                                        "inclusion proofs, signed checkpoint, key) or in-toto")
    le.add_argument("--session", "-s", required=True, help="the session id")
    le.add_argument("--output", "-o", default="-", help="where to write (default stdout)")
    le.add_argument("--format", choices=("bundle", "intoto"), default="bundle",
                    help="bundle: one JSON file for `verify-bundle`; intoto: DSSE-signed in-toto "
                         "Statements, JSON Lines (link and test-result per outcome, else the "
                         "decision summary, predicate type https://codor.dev/decision/v1)")
    lb = lsub.add_parser("verify-bundle", help="verify an exported bundle offline (needs "
                                               "nothing but the bundle)")
    lb.add_argument("bundle", help="the bundle file, or - for stdin")
    lb.add_argument("--key", action="append", default=[], metavar="VKEY",
                    help="pin the log's verifier key (recommended; see `codor keys show`)")
    lb.add_argument("--key-file", action="append", default=[], metavar="FILE",
                    help="pin the verifier key(s) in FILE (one per line, e.g. keys/log.pub)")
    lb.add_argument("--json", action="store_true", help="print the report as JSON")
    lr = lsub.add_parser("prune", help="drop entry bodies older than an age; hashes, proofs and "
                                       "checkpoints stay valid")
    lr.add_argument("--older-than", required=True, metavar="AGE",
                    help="e.g. 30d, 12h, 90m, 2w")
    lr.add_argument("--no-vacuum", action="store_true",
                    help="do not VACUUM the file afterwards (the space is then reused, not freed)")
    ls = lsub.add_parser("sinks", help="what the sinks of .codor/sinks.yaml sent, failed and "
                                       "dropped (totals over every run)")
    ls.add_argument("--json", action="store_true", help="print the statistics as JSON")
    for p in (lv, lp, lt, *lsub.choices.values()):
        if not any(a.dest == "workspace" for a in p._actions):
            p.add_argument("--workspace", "-w", default=None)

    run = sub.add_parser("run", help="run a command or a whole agent in the sandbox",
                         description="Run CMD confined under the policy; every network request "
                         "goes through CODOR's egress proxy; all of it is recorded. Exits with "
                         "CMD's status; 126 when the policy refuses it, 125 when no sandbox can "
                         "give the policy's guarantees.")
    _add_policy_args(run)
    run.add_argument("--explain", action="store_true",
                     help="print the decision and the sandbox it would build; run nothing")
    run.add_argument("--session", default=None, help="session id (default: a new one)")
    run.add_argument("--agent", default=None, help="agent id recorded with the session")
    run.add_argument("--no-record", action="store_true", help="do not record in the ledger")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")

    doctor = sub.add_parser("doctor", help="which sandbox backends this machine can use")
    _add_policy_args(doctor)
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")

    hook = sub.add_parser("hook", help="answer an agent's hook (JSON on stdin, JSON on stdout)",
                          description="Run by the agent for each hook event: decides and "
                          "records per the workspace's policy. Fails closed: any internal "
                          "error exits 2 with the reason on stderr.")
    hook.add_argument("agent", choices=AGENTS)
    hook.add_argument("--workspace", "-w", default=None,
                      help="default: CODOR_HOME, else the hook's cwd (nearest .codor/)")
    hook.add_argument("--policy", "-p", default=None)
    for verb, text in (("install", "add CODOR's hooks to an agent's settings (idempotent, "
                                   "keeps a backup and your other hooks)"),
                       ("uninstall", "remove CODOR's hooks from an agent's settings")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("agent", choices=AGENTS)
        scope = p.add_mutually_exclusive_group()
        scope.add_argument("--project", action="store_true",
                           help="the project's settings (default)")
        scope.add_argument("--user", action="store_true", help="your user settings")
        p.add_argument("--workspace", "-w", default=None, help="the project (default: cwd)")
        p.add_argument("--dry-run", action="store_true",
                       help="print the settings file it would write; change nothing")
    mcp = sub.add_parser("mcp", help="the MCP gateway and CODOR's own MCP server")
    msub = mcp.add_subparsers(dest="mcp_command", parser_class=_Parser, required=True)
    gw = msub.add_parser("gateway", help="sit between an MCP client and an upstream MCP server",
                         description="Serves MCP clients on stdio (default) or streamable "
                         "HTTP (--listen); every tools/call is decided by the policy and "
                         "recorded; denied calls never reach the upstream.")
    up = gw.add_mutually_exclusive_group(required=True)
    up.add_argument("--upstream", metavar="CMD",
                    help="the upstream server's command line (stdio), e.g. 'npx -y @x/server'")
    up.add_argument("--upstream-url", metavar="URL", help="the upstream's streamable HTTP URL")
    gw.add_argument("--name", default=None,
                    help="the server name in tool.call actions (default: the upstream's own)")
    gw.add_argument("--repin", action="store_true",
                    help="accept the upstream's tools as they are now listed (after you "
                         "reviewed a change), write their pins, and exit")
    serve = msub.add_parser("serve", help="CODOR's built-in tools (fs.*, search.*, shell.exec, "
                                          "test.run, http.fetch) as an MCP server")
    for p in (gw, serve):
        _add_policy_args(p)
        p.add_argument("--listen", metavar="HOST:PORT", default=None,
                       help="serve streamable HTTP here instead of stdio (loopback only: "
                            "there is no authentication)")
        p.add_argument("--session", default=None, help="session id (default: a new one)")
        p.add_argument("--no-record", action="store_true", help="do not record in the ledger")

    claims = sub.add_parser("claims", help="verify an agent's report against the evidence")
    csub = claims.add_subparsers(dest="claims_command", parser_class=_Parser, required=True)
    cv = csub.add_parser(
        "verify", help="check each claim of a report against the session's ledger evidence",
        description="Extracts the claims of the agent's report (free text, or claims JSON), "
        "checks each against what the session's ledger shows and the workspace holds, runs "
        "the fabrication detectors, and records the verification. Exits 1 when the report "
        "fails (a claim contradicted, a finding at or above claims.fail_on, or in strict mode "
        "an unsupported claim).")
    _add_policy_args(cv)
    cv.add_argument("--session", "-s", required=True, help="the session id")
    cv.add_argument("--report", "-r", default=None, metavar="FILE",
                    help="the agent's report: a text/Markdown file, claims JSON, or - for "
                         "stdin (default: the session's recorded final message)")
    cv.add_argument("--json", action="store_true", help="print the result as JSON")
    cv.add_argument("--html", metavar="OUT", default=None,
                    help="also write the result as a self-contained HTML page")
    cv.add_argument("--no-record", action="store_true",
                    help="do not record the verification in the ledger")
    csub.add_parser("patterns", help="list the fabrication patterns and their severities")
    csub.add_parser("schema", help="print the JSON Schema of structured claims")

    # capability tokens (codor.cli.token)
    from codor.cli.token import add_token_parser

    add_token_parser(sub, _Parser)

    # workflow modes (codor.cli.mode), in the daemon's state database
    from codor.cli.mode import add_mode_parser

    add_mode_parser(sub, _Parser)

    # scheduled tasks (codor.cli.task), in the daemon's state database
    from codor.cli.task import add_task_parser

    add_task_parser(sub, _Parser)

    daemon_p = sub.add_parser("serve", help="the daemon: HTTP API, approvals, dashboard")
    _add_policy_args(daemon_p)
    daemon_p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    daemon_p.add_argument("--port", type=int, default=None, help="port (default 8787; 0: any)")
    daemon_p.add_argument("--ledger", default=None,
                       help="postgresql://... to share one log between daemons "
                            "(default: the workspace's .codor/ledger.db)")
    daemon_p.add_argument("--state", default=None,
                       help="state database for approvals and API keys (default: the "
                            "PostgreSQL ledger's database, else .codor/state.db)")
    daemon_p.add_argument("--config", default=None,
                       help="settings file (default .codor/server.yaml when present)")
    daemon_p.add_argument("--init", action="store_true",
                       help="create .codor/ in the workspace first when missing")
    daemon_p.add_argument("--log-level", default=None,
                       choices=("critical", "error", "warning", "info", "debug"))

    # -- codor apikey (codor.cli.apikey): the daemon's API keys, in its state database --
    apikey = sub.add_parser("apikey", help="create, list or revoke the daemon's API keys")
    asub = apikey.add_subparsers(dest="apikey_command", parser_class=_Parser, required=True)
    acreate = asub.add_parser("create", help="make a key and print its token (shown once)")
    acreate.add_argument("--role", required=True,
                         choices=("admin", "operator", "auditor", "agent"))
    acreate.add_argument("--name", required=True, help="what the key is for")
    alist = asub.add_parser("list", help="every key (never a secret)")
    alist.add_argument("--json", action="store_true")
    arevoke = asub.add_parser("revoke", help="revoke a key by its id")
    arevoke.add_argument("id")
    for p in (acreate, alist, arevoke):
        p.add_argument("--workspace", "-w", default=None)
        p.add_argument("--state", default=None,
                       help="the state database (default: as `codor serve` finds it)")

    # -- codor demo (codor.cli.demo) --
    demo = sub.add_parser("demo", help="drive a scripted agent through hooks against the daemon")
    demo.add_argument("--url", default=None, help="the daemon (default CODOR_URL)")
    demo.add_argument("--token", default=None, help="its API key (default CODOR_TOKEN)")
    demo.add_argument("--workspace", "-w", default=None,
                      help="the demo project (default: a new temporary directory)")
    demo.add_argument("--serve", action="store_true",
                      help="start the daemon on the demo workspace too, and keep it serving")
    demo.add_argument("--exit", action="store_true",
                      help="with --serve: stop the daemon when the demo ends")
    demo.add_argument("--approval-wait", type=float, default=60.0, metavar="S",
                      help="how long the approval step waits for a person (default 60)")

    # -- codor agent (codor.cli.agent): the agent registry, in the daemon's state database --
    agent_p = sub.add_parser("agent", help="register, list, show, pause, resume, stop, export or "
                                           "import agents")
    agsub = agent_p.add_subparsers(dest="agent_command", parser_class=_Parser, required=True)
    agreg = agsub.add_parser("register", help="register an agent (status: registered)")
    agreg.add_argument("id")
    agreg.add_argument("--role", required=True,
                       choices=("coder", "reviewer", "tester", "orchestrator", "tool", "custom"))
    agreg.add_argument("--owner", default=None, help="who answers for it (default: you)")
    agreg.add_argument("--capability", "-c", action="append", metavar="CAP",
                       help="a capability (repeat, or separate with commas)")
    aglist = agsub.add_parser("list", help="every agent (optionally of one status or role)")
    aglist.add_argument("--status", default=None)
    aglist.add_argument("--role", default=None)
    aglist.add_argument("--json", action="store_true")
    agshow = agsub.add_parser("show", help="one agent")
    agshow.add_argument("id")
    agshow.add_argument("--json", action="store_true")
    agverbs = []
    for verb, text in (("pause", "ready or running -> paused"),
                       ("resume", "paused -> the status it was paused from"),
                       ("stop", "-> stopping -> stopped")):
        p = agsub.add_parser(verb, help=text)
        p.add_argument("id")
        p.add_argument("--expect-version", type=int, default=None, metavar="N",
                       help="refuse unless the agent is still at version N")
        p.add_argument("--reason", default=None, help="why (recorded in the ledger)")
        agverbs.append(p)
    agexp = agsub.add_parser("export", help="write every agent as JSON to FILE (- for stdout)")
    agexp.add_argument("file")
    agimp = agsub.add_parser("import", help="register the agents of an export (FILE or -)")
    agimp.add_argument("file")
    agimp.add_argument("--replace", action="store_true",
                       help="overwrite agents already registered (refused otherwise)")
    for p in (agreg, aglist, agshow, *agverbs, agexp, agimp):
        p.add_argument("--workspace", "-w", default=None)
        p.add_argument("--state", default=None,
                       help="the state database (default: as `codor serve` finds it)")

    imp = psub.add_parser("import", help="translate another engine's policy into CODOR's")
    imp.add_argument("source_format", choices=("clawdstrike",))
    imp.add_argument("file", help="the policy file (or 'ruleset:<name>' for a bundled one)")
    imp.add_argument("--output", "-o", default="-", help="where to write (default stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # the `codor` executable (codor.cli.main) sends `codor hook` straight to codor.cli.hook;
    # only `python -m codor.cli.main hook ...` parses it here
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from codor import __version__

        print(f"codor {__version__}")
        return EXIT_OK
    try:
        if args.command == "check":
            from codor.cli.check import run_check

            return run_check(args)
        if args.command == "policy":
            from codor.cli.policy import run_policy

            return run_policy(args)
        if args.command == "run":
            from codor.cli.run import run_run

            return run_run(args)
        if args.command == "doctor":
            from codor.cli.run import run_doctor

            return run_doctor(args)
        if args.command == "hook":
            from codor.cli.hook import main_hook

            return main_hook([args.agent, *(["--workspace", args.workspace]
                                            if args.workspace else []),
                              *(["--policy", args.policy] if args.policy else [])])
        if args.command in ("install", "uninstall"):
            from codor.cli.install import run_install

            return run_install(args)
        if args.command == "serve":
            from codor.cli.serve import run_serve

            return run_serve(args)
        if args.command == "token":  # codor token (codor.cli.token)
            from codor.cli.token import run_token

            return run_token(args)
        if args.command == "apikey":  # codor apikey (codor.cli.apikey)
            from codor.cli.apikey import run_apikey

            return run_apikey(args)
        if args.command == "agent":  # codor agent (codor.cli.agent)
            from codor.cli.agent import run_agent

            return run_agent(args)
        if args.command == "mode":  # codor mode (codor.cli.mode)
            from codor.cli.mode import run_mode

            return run_mode(args)
        if args.command == "task":  # codor task (codor.cli.task)
            from codor.cli.task import run_task

            return run_task(args)
        if args.command == "demo":  # codor demo (codor.cli.demo)
            from codor.cli.demo import run_demo

            return run_demo(args)
        if args.command == "mcp":
            from codor.cli.mcp import run_mcp

            return run_mcp(args)
        if args.command == "claims":
            from codor.cli.claims import run_claims

            return run_claims(args)
        if args.command in ("init", "keys", "ledger"):
            from codor.cli.ledger import run_ledger

            return run_ledger(args)
        parser.print_help()
        return EXIT_USAGE
    except CodorError as exc:
        sys.stderr.write(f"codor: {exc.one_line()}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if os.environ.get("CODOR_DEBUG"):
            raise
        from codor.errors import InternalError

        error = InternalError(f"internal error: {type(exc).__name__}: {exc} "
                              "(set CODOR_DEBUG=1 for a traceback)")
        sys.stderr.write(f"codor: {error.one_line()}\n")
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
