"""The ``secrets`` guard: credentials in what an agent writes, runs, sends or passes to a tool.

Configuration::

    secrets:
      effect: deny              # deny | ask: the effect of a finding
      disable: [kind, ...]      # detectors to turn off (unknown names are a schema error)
      patterns:                 # extra detectors; the rule id is secrets.<name>
        - {name: acme_token, regex: "acme_[0-9a-f]{32}", severity: high}
      allow:                    # never reported: literal secret values, or "re:<regex>"
        - AKIAFIXTURE000000000
        - "re:^ghp_0{36}$"
      skip_paths: [globs]       # file.write / patch.apply targets that are not scanned
      entropy: {enabled: true, min_length: 20, threshold: 4.0}
      max_scan_bytes: 4194304   # text beyond this is not scanned; the guard asks instead

What is scanned: ``file.write`` content, the *added* lines of a ``patch.apply`` (per file of
the diff), ``command.exec`` command and argv, ``content.outbound`` text, ``network.request``
url and ``tool.call`` arguments (as compact JSON). A finding has rule ``secrets.<kind>`` and
the configured effect; text over ``max_scan_bytes`` adds ``secrets.unscanned`` (ask).
Messages name the kind and where it was found, never the secret: at most its first four
characters and its length (``AKIA…(20 chars)``).

Detectors (kinds): see :data:`KINDS`. Token formats with a recognisable prefix are matched
where a word of ``[A-Za-z0-9_-]`` starts; credentials that only look like one in context
(``aws_secret_key``, ``azure_client_secret``, ``heroku_api_key``, ``datadog_api_key``...) need
an assignment ``NAME = value`` / ``NAME: value`` whose NAME says so;
``generic_high_entropy_assignment`` is any assignment whose NAME contains key, secret, token,
password, passwd or pwd and whose value is long, random-looking (Shannon entropy per character
at least ``entropy.threshold``) and not an identifier or a placeholder. ``private_key`` needs a
key body after the ``-----BEGIN ... PRIVATE KEY-----`` line. ``allow`` literals suppress a
finding whose secret value equals them; ``re:`` entries are searched in the value. The
built-in allow list holds documented example keys (AWS's ``AKIAIOSFODNN7EXAMPLE``...); the
configured list is added to it.

Speed: a scan first maps the text to a mask of token characters with ``bytes.translate``; text
without a run of 16 token characters (prose, short strings) is done after one substring
search. Otherwise detectors are dispatched from where token-like words start (a dictionary
lookup on their first two characters), from keyword positions (``key``, ``secret``...) and
from ``://`` and ``-----BEGIN``; every detector regex is anchored there (``match``), so nothing
scans the whole text once per detector.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, cast

from codor.errors import PolicySchemaError
from codor.model import Action, Severity, thaw
from codor.policy.diff import parse_patch
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.memo import Memo
from codor.policy.patterns import GlobSet, compile_regex
from codor.policy.schema import Section
from codor.policy.secret_kinds import DEFAULT_ALLOW, KINDS

if TYPE_CHECKING:
    from codor.policy.secret_scanner import SecretMatch, SecretScanner

__all__ = ["DEFAULT_ALLOW", "KINDS", "SecretsGuard", "compile_guard"]

_MEMO_MAX_CHARS = 4096  # texts up to this size have their findings memoised


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


@lru_cache(maxsize=1024)
def _arguments_json(arguments: Any) -> str:
    """Tool arguments as compact JSON (memoised: frozen arguments are hashable); the same
    text as ``json.dumps(thaw(arguments), ensure_ascii=False, separators=(",", ":"),
    default=str)``."""
    try:
        return _JSON.encode(thaw(arguments))
    except (TypeError, ValueError, RecursionError):
        return str(arguments)


# -- the guard ---------------------------------------------------------------------------------
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SCANNED: Final = frozenset({"file.write", "patch.apply", "command.exec", "content.outbound",
                             "network.request", "tool.call"})


class SecretsGuard:
    name = "secrets"
    kinds = _SCANNED

    def __init__(self, scanner: Callable[[], SecretScanner], effect: str, skip: GlobSet,
                 max_scan_bytes: int) -> None:
        self._make_scanner = scanner
        self._scanner: SecretScanner | None = None
        self._effect = effect
        self._skip = skip
        self._max = max_scan_bytes
        self._memo: Memo[tuple[str, str], tuple[Finding, ...]] = Memo()

    @property
    def scanner(self) -> SecretScanner:
        """The configured scanner, built on first use (the configuration was validated when
        the policy compiled)."""
        got = self._scanner
        if got is None:
            got = self._scanner = self._make_scanner()
        return got

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        if action.kind == "command.exec" and action.argv is None:  # the usual command
            return list(self.scan_text(action.command, "the command")) if action.command \
                else []
        out: list[Finding] = []
        for text, where in self._texts(action, ctx):
            out.extend(self.scan_text(text, where))
        return out

    def scan_text(self, text: str, where: str) -> Sequence[Finding]:
        """Findings for one text; ``where`` completes "found in ..." (other guards may call
        this to reuse the configured scanner). Results for short texts are memoised."""
        if len(text) > _MEMO_MAX_CHARS:
            return self._scan_text(text, where)
        key = (text, where)
        got = self._memo.get(key)
        if got is None:
            got = self._memo.put(key, tuple(self._scan_text(text, where)))
        return got

    def _scan_text(self, text: str, where: str) -> list[Finding]:
        size = len(text)
        unscanned = 0
        if size * 4 > self._max:
            raw = text.encode("utf-8", "surrogatepass")
            if len(raw) > self._max:
                unscanned = len(raw)
                text = raw[: self._max].decode("utf-8", "ignore")
        matches = self.scanner.scan(text)
        if not matches and not unscanned:
            return []
        from codor.policy.secret_scanner import redacted_form

        first: dict[str, SecretMatch] = {}
        count: dict[str, int] = {}
        for m in matches:
            if m.kind in first:
                count[m.kind] += 1
            else:
                first[m.kind] = m
                count[m.kind] = 1
        out: list[Finding] = []
        for kind, m in first.items():
            more = f" and {count[kind] - 1} more" if count[kind] > 1 else ""
            shown = redacted_form(text[m.start:m.end])
            verb = "denied" if self._effect == "deny" else "needs approval"
            out.append(Finding(
                "deny" if self._effect == "deny" else "ask", f"secrets.{kind}", self.name,
                m.severity, f"{kind} secret in {where} ({shown}{more}); {verb}"))
        if unscanned:
            out.append(Finding(
                "ask", "secrets.unscanned", self.name, "medium",
                f"{where} is {unscanned} bytes, over max_scan_bytes ({self._max}): only the "
                "first part was scanned for secrets, so a person must approve"))
        return out

    def _skipped(self, path: str, ctx: EvalContext, cwd: str | None) -> bool:
        if not self._skip:
            return False
        try:
            forms = ctx.forms(path, cwd)
        except ValueError:
            return False
        return all(self._skip.matches(f) for f in forms)

    def _texts(self, action: Action, ctx: EvalContext) -> Iterator[tuple[str, str]]:
        kind = action.kind
        if kind == "file.write":
            if action.content and action.path is not None and \
                    not self._skipped(action.path, ctx, action.cwd):
                yield action.content, f"the content written to {action.path}"
        elif kind == "patch.apply":
            if action.patch:
                for f in parse_patch(action.patch).files:
                    if not f.added:
                        continue
                    paths = f.paths or ((action.path,) if action.path else ())
                    if paths and self._skip and \
                            all(self._skipped(p, ctx, action.cwd) for p in paths):
                        continue
                    target = f.new_path or f.old_path or action.path or "?"
                    yield "\n".join(f.added), f"the lines the patch adds to {target}"
        elif kind == "command.exec":
            if action.command:
                yield action.command, "the command"
            if action.argv:
                yield " ".join(action.argv), "the command's arguments"
        elif kind == "content.outbound":
            if action.text:
                yield action.text, "outbound text"
        elif kind == "network.request":
            if action.url:
                yield action.url, "the request URL"
        elif kind == "tool.call" and action.arguments:
            yield _arguments_json(action.arguments), f"the arguments of tool {action.tool}"


def compile_guard(section: Section, cc: CompileContext) -> SecretsGuard:
    section.only("effect", "disable", "patterns", "allow", "skip_paths", "entropy",
                 "max_scan_bytes", "inherit")
    effect = section.choice("effect", ("deny", "ask"), "deny")
    extra: list[tuple[str, re.Pattern[str], Severity]] = []
    for p in section.sections("patterns"):
        p.only("name", "regex", "severity")
        name = p.req_string("name")
        if not _KIND_NAME.fullmatch(name):
            raise p.fail("name", f"{name!r} is not a valid detector name ([a-z][a-z0-9_]*)")
        if name in KINDS or name in {n for n, _r, _s in extra}:
            raise p.fail("name", f"detector {name!r} already exists")
        regex = compile_regex(p.req_string("regex"), location=p.loc("regex"))
        extra.append((name, regex, cast(Severity, p.severity("severity", "high"))))
    known = set(KINDS) | {n for n, _r, _s in extra}
    disabled = section.strings("disable")
    for i, kind in enumerate(disabled):
        if kind not in known:
            raise PolicySchemaError(
                f"{section.path('disable')}[{i}]: unknown secret kind {kind!r}; known: "
                f"{', '.join(sorted(known))}", location=section.item_loc("disable", i))
    allow = section.strings("allow")
    for i, entry in enumerate(allow):
        if entry.startswith("re:"):
            compile_regex(entry[3:], location=section.item_loc("allow", i))
    ent = section.section("entropy").only("enabled", "min_length", "threshold")
    threshold = ent.number("threshold", 4.0)
    assert threshold is not None
    if not 0.0 < threshold <= 8.0:
        raise ent.fail("threshold", "must be greater than 0 and at most 8 (bits per character)")
    min_length = ent.integer("min_length", 20, minimum=1)
    max_scan = section.integer("max_scan_bytes", 4 * 1024 * 1024, minimum=1)
    assert min_length is not None and max_scan is not None
    entropy = ent.boolean("enabled", True)

    def scanner() -> SecretScanner:
        from codor.policy.secret_scanner import SecretScanner

        return SecretScanner(disabled=disabled, extra=extra, allow=allow, entropy=entropy,
                             min_length=min_length, threshold=threshold)

    skip = cc.globs(section, "skip_paths", warn_empty=False)
    return SecretsGuard(scanner, effect, skip, max_scan)
