"""File paths in an agent's report, and the file claims made about them ("Created
`docs/api.md`", "Updated README.md and setup.cfg", "`old_api.py` was removed", a "Files
changed" list).

A path is a token with a slash, a known extension, a leading dot (``.env``) or a well-known
extension-less name (``Makefile``); URLs, versions (``v1.2.3``), ``a/b`` word pairs, dotted
identifiers (``obj.method``) and calls (``parse()``) are not paths. A file claim needs a verb
whose object is the path (directly, or after ``in/to/from``), a passive ("was updated"), a
marker ("(new)") or a place in a file list or file table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, Literal

__all__ = ["FileKind", "PathRef", "file_claims", "find_paths"]

FileKind = Literal["file.created", "file.modified", "file.deleted"]
#: (start, end, path, inside a command code span) in normalised-text offsets.
PathRef = tuple[int, int, str, bool]

_EXTENSIONS: Final = frozenset(["py", "pyi", "pyx", "pxd", "ipynb", "js", "jsx", "ts", "tsx",
                                "mjs", "cjs", "mts", "cts", "json", "jsonc", "json5", "jsonl",
                                "md", "mdx", "markdown", "rst", "txt", "adoc", "yml", "yaml",
                                "toml", "cfg", "ini", "conf", "env", "lock", "sh", "bash", "zsh",
                                "fish", "ps1", "bat", "cmd", "go", "mod", "sum", "rs", "java",
                                "kt", "kts", "scala", "groovy", "gradle", "c", "h", "cc", "cpp",
                                "cxx", "hpp", "hh", "cs", "fs", "fsx", "rb", "erb", "php",
                                "swift", "mm", "sql", "html", "htm", "css", "scss", "sass",
                                "less", "vue", "svelte", "astro", "xml", "xsd", "csv", "tsv",
                                "proto", "graphql", "gql", "tf", "tfvars", "hcl", "ex", "exs",
                                "erl", "hrl", "hs", "elm", "ml", "mli", "clj", "cljs", "lua",
                                "jl", "dart", "pl", "pm", "nim", "zig", "sol", "properties",
                                "plist", "gemspec", "podspec", "dockerfile", "mk", "cmake", "j2",
                                "jinja", "tpl", "tmpl", "hbs", "ejs", "pug", "svg", "png", "jpg",
                                "jpeg", "gif", "webp", "ico", "pdf", "wasm", "patch", "diff",
                                "log", "rake", "lockb", "snap", "pem", "crt", "pub", "sqlite",
                                "db", "bak", "orig", "tsbuildinfo", "spec", "tsx", "map"])
_KNOWN_NAMES: Final = frozenset({
    "Makefile", "Dockerfile", "Containerfile", "Jenkinsfile", "Gemfile", "Rakefile", "Procfile",
    "Justfile", "Vagrantfile", "Brewfile", "Pipfile", "CODEOWNERS"})
_NOT_FILES: Final = frozenset({
    "node.js", "next.js", "vue.js", "nuxt.js", "express.js", "three.js", "chart.js", "d3.js",
    "react.js", "nest.js", "ember.js", "socket.io", "alpine.js", "solid.js"})
_DIR_HINTS: Final = frozenset(["src", "lib", "libs", "tests", "test", "spec", "specs", "docs",
                               "doc", "app", "apps", "pkg", "pkgs", "cmd", "internal", "scripts",
                               "bin", "config", "configs", "packages", "components", "pages",
                               "public", "static", "assets", "include", "examples", "tools",
                               "benchmarks", "migrations", "templates", "api", "server", "client",
                               "web", "frontend", "backend", "services", "utils", "helpers",
                               "hooks", ".github", ".vscode", "crates", "modules"])
_NAMES_ALT = "|".join(sorted(_KNOWN_NAMES))
_PATH = re.compile(
    r"(?<![\w@~+./\\-])(?:"
    r"(?:\.{1,2}/|~/|/)?\.?[\w@~+-]+(?:[./][\w@~+-]+)+/?"
    r"|(?:\.{1,2}/|~/|/)?[\w@~+-]+/"
    r"|\.[\w-]+"
    rf"|(?:{_NAMES_ALT})\b"
    r")(?![\w@~+\\-]|\()")
_FORMS: Final[dict[FileKind, str]] = {
    "file.created": "created creates added adds wrote writes written introduced introduces "
                    "generated generates scaffolded",
    "file.modified": "modified modifies updated updates changed changes edited edits fixed fixes "
                     "refactored refactors patched patches rewrote rewritten rewrites reworked "
                     "tweaked adjusted extended extends improved improves touched amended "
                     "restructured simplified renamed moved converted migrated replaced "
                     "reformatted formatted implemented implements hardened expanded documented "
                     "bumped wired wires tidied reorganized reorganised",
    "file.deleted": "deleted deletes removed removes dropped drops eliminated",
}
_BASE: Final[dict[FileKind, str]] = {
    "file.created": "create add write introduce generate scaffold",
    "file.modified": "modify update change edit fix refactor patch rewrite rework tweak adjust "
                     "extend improve touch amend restructure simplify rename move convert "
                     "migrate replace reformat implement harden expand document bump tidy",
    "file.deleted": "delete remove drop",
}
_VERB_KIND: Final[dict[str, FileKind]] = {
    **{w: k for k, ws in _FORMS.items() for w in ws.split()},
    **{w: k for k, ws in _BASE.items() for w in ws.split()},
    "cleaned up": "file.modified", "made changes to": "file.modified",
    "got rid of": "file.deleted", "new file": "file.created", "new files": "file.created",
    "new module": "file.created", "new modules": "file.created", "new script": "file.created",
}
_BASE_FORMS: Final = frozenset(w for ws in _BASE.values() for w in ws.split())
_TOKEN = re.compile(r"\w+")
_MULTI = re.compile(r"(?:got\s+rid\s+of|cleaned\s+up|made\s+changes\s+to|"
                    r"new\s+(?:files?|modules?|script))\b")
_MULTI_START: Final = frozenset({"got", "cleaned", "made", "new"})


def _verbs(masked: str) -> list[tuple[int, int, str]]:
    """(start, end, verb) of the file verbs of a sentence (a dictionary lookup per word is
    much faster than one alternation of a hundred verbs)."""
    out: list[tuple[int, int, str]] = []
    for m in _TOKEN.finditer(masked):
        word = m.group()
        if word in _MULTI_START:
            multi = _MULTI.match(masked, m.start())
            if multi is not None:
                out.append((m.start(), multi.end(), " ".join(multi.group().split())))
                continue
        if word in _VERB_KIND:
            out.append((m.start(), m.end(), word))
    return out
_OBJ_ONLY = re.compile(
    r"(?:[\s`'\",:&+()\-]|¶|\b(?:the|a|an|new|old|existing|file|files|module|modules|script|"
    r"scripts|config|configuration|test|tests|package|directory|dir|folder|doc|docs|"
    r"documentation|stale|unused|obsolete|legacy|deprecated|empty|entire|whole|both|and|plus|"
    r"also|as\s+well\s+as|two|three|four|several|following|my|our|its|both)\b)*")
_LIST_TAIL = re.compile(r"(?:[\s`'\",&]|¶|\band\b|\bor\b)*$")
_PREP_END = re.compile(r"\b(?:in|to|into|inside|within|from|of|across|throughout)\s*"
                       r"(?:[`'\"]?[\w.]+(?:\(\))?[`'\"]?\s*\()?[`'\"(]*$")
_AFTER_LIST = re.compile(r"(?:[\s,`'\"]*(?:(?:and|&)[\s`'\"]*)?¶)*[\s`'\")]*")
_SUFFIX = re.compile(
    r"\((?P<c>new|new\s+file|created|added)\)|\((?P<d>deleted|removed)\)|"
    r"\((?P<m>modified|updated|changed|edited)\)|(?:was|were|is|are|has\s+been|have\s+been|got|"
    r"now)\s+(?:also\s+|now\s+|newly\s+|successfully\s+|fully\s+)?(?P<v>[a-z]+(?:\s+up)?)\b")
_LEADING = re.compile(r"[\s✓✗`'\"\[\]()|,&:*]|¶|\band\b")
_ITEM_NEW = re.compile(r"\(?(?:new|created|added)\)?(?:\s+file)?\s*(?:$|[:—–,.()|-])")
_ITEM_GONE = re.compile(r"\(?(?:deleted|removed)\)?\s*(?:$|[:—–,.()|-])")
_LOCATION = re.compile(r"(?::\d+(?:[-:]\d+)*|#L\d+(?:-L?\d+)?|::[\w:\[\].-]+)(?![\w/])")
_SEPARATOR = re.compile(r"[`'\")\s]*(?:[:—–]|\s-\s)")
_FIRST_WORD = re.compile(r"\(?([a-z]+)\b")
_STATUS: Final[dict[str, FileKind]] = {
    "a": "file.created", "m": "file.modified", "d": "file.deleted"}


def _valid(tok: str, in_code: bool) -> bool:
    if "//" in tok or not any(c.isalpha() for c in tok):
        return False
    if tok in _KNOWN_NAMES:
        return True
    body = tok.rstrip("/")
    if "/" in tok:
        segs = [s for s in body.split("/") if s not in ("", ".", "..", "~")]
        if not segs or any(s.isdigit() for s in segs):
            return False
        if tok.startswith(("/", "./", "../", "~/")) or tok.endswith("/") or in_code:
            return True
        if len(segs) >= 3 or any("." in s.strip(".") for s in segs):
            return True
        return segs[0].lower() in _DIR_HINTS
    if body.startswith(".") and body.count(".") == 1:
        return len(body) > 2 and body[1:].replace("-", "").replace("_", "").isalpha()
    name, _, ext = body.rpartition(".")
    return bool(name) and ext.lower() in _EXTENSIONS and body.lower() not in _NOT_FILES


def find_paths(norm: str, spans: list[tuple[int, int, str]]) -> list[PathRef]:
    """The paths of a normalised sentence; ``spans`` are its code spans (start, end, content)."""
    out: list[PathRef] = []
    si = 0
    for m in _PATH.finditer(norm):
        while si < len(spans) and spans[si][1] <= m.start():
            si += 1
        in_code = si < len(spans) and spans[si][0] < m.start()
        tok = m.group()
        if _valid(tok, in_code):
            in_cmd = in_code and any(c.isspace() for c in spans[si][2])
            suffix = _LOCATION.match(norm, m.end())  # "src/app.py:42", "tests/x.py::test_y"
            out.append((m.start(), suffix.end() if suffix else m.end(), tok, in_cmd))
    return out


def _section_kind(masked: str, paths: list[PathRef], section: str, table: bool
                  ) -> list[tuple[int, FileKind, str]]:
    """Claims for the leading paths of a list item or a file-table row. In a files list
    (``section`` ``files:*``) or file table every leading path is claimed; elsewhere only
    when a separator and a marker or a verb follow (``- `x.go` — new package``)."""
    lead: list[PathRef] = []
    status = ""
    last = 0
    for p in paths:
        prefix = _LEADING.sub("", masked[last:p[0]])
        if prefix in ("", "a", "m", "d") and not p[3] and not (prefix and lead):
            status = status or prefix
            lead.append(p)
            last = p[1]
        else:
            break
    if not lead:
        return []
    tail = masked[lead[-1][1]:]
    rest = tail.lstrip(" `'\"):—–-|")
    kind: FileKind | None
    if status:
        kind = _STATUS[status]
    elif table:
        kind = ("file.created" if re.search(r"\b(?:new|added|created)\b", rest) else
                "file.deleted" if re.search(r"\b(?:deleted|removed)\b", rest) else
                "file.modified")
    elif _ITEM_NEW.match(rest):
        kind = "file.created"
    elif _ITEM_GONE.match(rest):
        kind = "file.deleted"
    elif section.startswith("files:"):
        kind = {"files:created": "file.created", "files:deleted": "file.deleted"}.get(
            section, "file.modified")  # type: ignore[assignment]
    else:
        word = _FIRST_WORD.match(rest)
        kind = None
        if _SEPARATOR.match(tail) is not None and word is not None:
            verb = word.group(1)
            kind = ("file.created" if verb == "new" else
                    "file.modified" if verb in _VERB_KIND and verb not in _BASE_FORMS else None)
    return [] if kind is None else [(p[0], kind, p[2]) for p in lead]


#: "renamed a.py to b.py", "moved a.py into lib/b.py": the second path is the verb's too
_RENAMED_TO: Final = re.compile(r"[\s`'\"*]*¶[\s`'\"*]*(?:to|into|as)[\s`'\"*]*")


def file_claims(low: str, live: str, paths: list[PathRef], *, negated: Callable[[int, int], bool],
                at_item_start: Callable[[int], bool], section: str | None = None,
                listed: bool = False, table: bool = False) -> list[tuple[int, FileKind, str]]:
    """(position, kind, path) for each file claim of a sentence. ``low`` is the lower-cased
    normalised sentence, ``live`` the same with hedged clauses blanked; ``listed`` says the
    sentence opens a list item (in ``section``) and ``table`` that it is a file-table row."""
    paths = [p for p in paths if not p[3]]
    if not paths:
        return []
    pieces: list[str] = []
    last = 0
    for start, end, _, _ in paths:
        pieces += (low[last:start], "¶", " " * (end - start - 1))
        last = end
    masked = "".join(pieces) + low[last:]
    verbs = _verbs(masked)
    out: list[tuple[int, FileKind, str]] = []
    claimed: set[int] = set()
    vi = 0
    for start, end, path, _ in paths:
        kind: FileKind | None = None
        while vi < len(verbs) and verbs[vi][1] <= start:
            vi += 1
        if vi and start - verbs[vi - 1][1] <= 80:
            vstart, vend, verb = verbs[vi - 1]
            between = masked[vend:start]
            if _OBJ_ONLY.fullmatch(between):
                kind = _VERB_KIND[verb]
            elif _PREP_END.search(_LIST_TAIL.sub("", between)) and len(between.split()) <= 8 \
                    and (not between.lstrip(" `'\"*").startswith("¶")
                         or _RENAMED_TO.fullmatch(between) is not None):
                # "fixed the bug in parser.py"; not "created a.md describing ... in b.py",
                # where the verb's object is another file
                kind = "file.modified"
            hedged = live[vstart] == " " and low[vstart] != " "
            if kind is not None and (hedged or negated(vstart, vend) or (
                    verb in _BASE_FORMS and not at_item_start(vstart))):
                kind = None
        if kind is None:
            tail = _AFTER_LIST.match(masked, end, end + 200)
            m = _SUFFIX.match(masked, tail.end() if tail else end, end + 300)
            if m is not None and live[m.start()] != " ":
                word = m.group("v")
                kind = ("file.created" if m.group("c") else "file.deleted" if m.group("d") else
                        "file.modified" if m.group("m") else
                        _VERB_KIND.get(word) if word and word not in _BASE_FORMS else None)
        if kind is not None:
            out.append((start, kind, path))
            claimed.add(start)
    if listed or table:
        for pos, kind, path in _section_kind(masked, paths, section or "", table):
            if pos not in claimed:
                out.append((pos, kind, path))
    return sorted(out)
