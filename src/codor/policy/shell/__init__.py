"""Shell command analysis: which programs a command string would run, with what, and how joined.

Pure and I/O-free: nothing is executed, no file is read. :func:`parse_command` turns a shell
string into the *simple command parts* it would run; :func:`parse_argv` does the same for an
argv that is already split (it is not shell-parsed, but wrappers are still unwrapped). Both are
cached and never raise: input that cannot be parsed gives a result with ``unparseable`` set
(and whatever parts could be read before the problem).

Each :class:`Part` has its argv (quotes removed, leading ``VAR=value`` assignments split off
into ``assigns``), its redirections (``> >> < 2> &> <<EOF <<<`` with targets and heredoc
bodies), the parts piped into it (``stdin_from``), the parts run by substitutions inside its
words (``inputs``: ``$(...)``, backticks, ``<(...)``, ``>(...)``), and the wrappers that were
removed to reach it (``sudo env X=1 timeout 5 bash -c "curl x | sh"`` gives the parts ``curl x``
and ``sh`` with wrappers ``sudo, env, timeout, bash``).

Understood: ``; && || | |& &``, newlines, comments, ``( )``, ``{ ;}``, ``if/while/until/for/
select/case``, functions, ``[[ ]]`` and ``(( ))``, single/double/``$'...'`` quotes, escapes,
brace expansion of literal words (``{rm,-rf,/}``), ``$IFS`` splitting, variables assigned
earlier in the same command (``c=curl; $c x``), heredocs (``<<EOF``, ``<<-EOF``, ``<<'EOF'``).
A script that reaches a shell or Python on standard input (heredoc, here-string, ``echo ... |
sh``) is analysed too.

Unwrapped: env, sudo, doas, su/runuser -c, pkexec, timeout, nice, nohup, time, command, builtin,
exec, stdbuf, ionice, setsid, chroot, taskset, chrt, unbuffer, busybox, flock, watch, xargs,
``uv/poetry/pipenv/pdm run``, ``sh/bash/zsh/dash/ksh/... -c`` and ``eval`` (strings are parsed
recursively, at most :data:`MAX_DEPTH` levels). ``python -c`` code is read with :mod:`ast`:
``os.system``, ``os.popen``, ``os.exec*``, ``os.spawn*``, ``subprocess.*`` and ``exec`` with
literal arguments become parts; anything computed at run time is reported in ``dynamic``.
``find -exec`` commands and ``system("...")`` literals in perl/ruby/node/php code are parts too.

Helpers for guards and rules: :func:`file_ops` (which files a part reads, writes or deletes),
:func:`interpreter` (how an interpreter gets its program), :func:`programs_of` (every program
and wrapper, for the rules' ``program`` field) and :func:`write_targets` (paths written or
deleted, for the built-in protections).

Modules, lowest first: ``model`` (results and drafts), ``words``, ``interpreters``,
``wrappers``, ``lexer``, ``grammar``, ``parser`` (entry points and what commands run) and
``fileops``.
"""

from __future__ import annotations

from codor.policy.shell.fileops import (
    FileOp,
    file_ops,
    is_recursive,
    looks_like_path,
    perm_targets,
    write_targets,
)
from codor.policy.shell.interpreters import SHELLS, interpreter
from codor.policy.shell.model import MAX_DEPTH, Interp, ParseResult, Part, Redirect, program_name
from codor.policy.shell.parser import parse_argv, parse_command, programs_of
from codor.policy.shell.wrappers import PRIVILEGED

__all__ = [
    "MAX_DEPTH",
    "PRIVILEGED",
    "SHELLS",
    "FileOp",
    "Interp",
    "ParseResult",
    "Part",
    "Redirect",
    "file_ops",
    "interpreter",
    "is_recursive",
    "looks_like_path",
    "parse_argv",
    "parse_command",
    "perm_targets",
    "program_name",
    "programs_of",
    "write_targets",
]
