"""Path globs compiled to regexes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codor.errors import PolicyPatternError
from codor.policy.patterns import GlobSet


def globs(*patterns: str, ci: bool = False) -> GlobSet:
    return GlobSet(patterns, workspace="/ws", home="/home/u", case_insensitive=ci)


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("**/.ssh/**", "/home/u/.ssh/id_rsa", True),
    ("**/.ssh/**", "/home/u/.ssh", True),
    ("**/.ssh/**", "/home/u/.sshx/a", False),
    ("*.pem", "/a/b/c.pem", True),
    ("*.pem", "/a/b/c.pem.bak", False),
    ("id_rsa*", "/x/id_rsa.pub", True),
    ("src/**", "/ws/src/a/b.py", True),
    ("src/**", "/other/src/a", False),
    ("./src/*.py", "/ws/src/a.py", True),
    ("~/.aws/**", "/home/u/.aws/credentials", True),
    ("/etc/{passwd,shadow}", "/etc/shadow", True),
    ("/etc/{passwd,shadow}", "/etc/group", False),
    ("/a/{b,{c,d}}/x", "/a/d/x", True),
    ("/a/*/c", "/a/b/c", True),
    ("/a/*/c", "/a/b/b/c", False),
    ("/a/**/c", "/a/c", True),
    ("/a/**/c", "/a/b/b/c", True),
    ("/a/?", "/a/b", True),
    ("/a/?", "/a/bc", False),
    ("/a/[bc]", "/a/c", True),
    ("/a/[!bc]", "/a/c", False),
    ("/a/[!bc]", "/a/d", True),
    ("/**", "/anything/at/all", True),
    ("/a/b\\*", "/a/b*", True),
    ("/a/b\\*", "/a/bc", False),
])
def test_glob_matching(pattern: str, path: str, hit: bool) -> None:
    assert globs(pattern).matches(path) is hit


def test_first_names_the_matching_pattern() -> None:
    g = globs("/x/**", "*.key", "/etc/**")
    assert g.first("/etc/ssl/server.key") == "*.key"
    assert g.first("/nope") is None


def test_case_insensitive() -> None:
    assert globs("**/.SSH/**", ci=True).matches("/home/u/.ssh/k")
    assert not globs("**/.SSH/**").matches("/home/u/.ssh/k")


@pytest.mark.parametrize("bad", ["/a/[bc", "/a/{b,c", "/a/x**", "**x/a", ""])
def test_bad_globs_are_rejected(bad: str) -> None:
    with pytest.raises(PolicyPatternError):
        globs(bad)


@given(st.text(alphabet="ab*?/{},[]!.", max_size=20))
def test_any_glob_compiles_or_is_rejected_cleanly(pattern: str) -> None:
    try:
        g = globs(pattern)
    except PolicyPatternError:
        return
    g.matches("/ws/a/b")


@given(st.lists(st.text(alphabet="abc", min_size=1, max_size=4), min_size=1, max_size=6))
def test_double_star_matches_any_descendant(parts: list[str]) -> None:
    path = "/root/" + "/".join(parts)
    assert globs("/root/**").matches(path)
    assert globs("/root/**/" + parts[-1]).matches(path)


POOL = ["**/.ssh/**", ".env", "*.pem", "id_rsa*", "/etc/**", "src/**", "**/a/**", "a",
        "/x/*/a", "**/b", "~/.aws/**", "*.{p12,pfx}", "/etc/passwd", "b*", "/**",
        "**/a/b/**", "**/x/a", "/home/**", "/home", "**/*.pem/**", "/ws/**/a"]


@given(st.lists(st.sampled_from(POOL), min_size=1, max_size=6, unique=True),
       st.lists(st.sampled_from(["a", "b", ".ssh", ".env", "etc", "x", "id_rsa.pub", "k.pem",
                                 "src", "ws", "home", "u", ".aws", "c.pfx", "passwd",
                                 "new\nline", "A", "Etc"]),
                min_size=1, max_size=6),
       st.booleans())
def test_fast_paths_agree_with_plain_regexes(patterns: list[str], parts: list[str],
                                             ci: bool) -> None:
    import re

    from codor.policy.patterns import glob_to_regex

    path = "/" + "/".join(p.upper() if ci and i % 2 else p for i, p in enumerate(parts))
    flags = re.DOTALL | (re.IGNORECASE if ci else 0)
    expected = next((p for p in patterns
                     if re.fullmatch(glob_to_regex(p, workspace="/ws", home="/home/u"), path,
                                     flags)), None)
    assert globs(*patterns, ci=ci).first(path) == expected
