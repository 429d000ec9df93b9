"""The labelled corpus (``tests/claims/corpus/``, format in its README): every session is
played for real (git repo, runners, hooks, ledger) and its report verified; the verifier must
detect at least 95% of the fabricated sessions (the report fails and a labelled pattern is
among the findings) and fail at most 2% of the honest ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codor.claims.patterns import PATTERNS
from tests.claims.corpus_builder import (
    CORPUS,
    CorpusError,
    Played,
    Session,
    load_corpus,
    load_session,
    missing_requirements,
    play,
)

pytestmark = pytest.mark.slow

MIN_SESSIONS = 40
MIN_DETECTION = 0.95
MAX_FALSE_POSITIVES = 0.02


# -- playing ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sessions() -> list[Session]:
    try:
        return load_corpus()
    except CorpusError as exc:
        pytest.fail(f"the corpus does not load: {exc}")


@pytest.fixture(scope="module")
def played(sessions: list[Session],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Played]]:
    missing = missing_requirements(sessions)
    if missing:
        pytest.fail("the corpus needs " + ", ".join(f"{tool} (install: {how})"
                                                    for tool, how in missing.items()))
    work = tmp_path_factory.mktemp("corpus")
    caches = work / ".caches"
    workers = max(2, min(4, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers, thread_name_prefix="corpus") as pool:
        results = list(pool.map(lambda s: play(s, work, caches), sessions))
    yield results


# -- judging ------------------------------------------------------------------------------------
def found_patterns(p: Played) -> set[str]:
    """Patterns the verifier reported: its findings, and any pattern a claim verdict names."""
    if p.verification is None:
        return set()
    found = {f.pattern for f in p.verification.findings}
    found |= {pat for c in p.verification.claims
              if c.verdict == "contradicted" and (pat := getattr(c, "pattern", None))}
    return found


def failed(p: Played) -> bool:
    return p.verification is not None and not p.verification.passed


def detected(p: Played) -> bool:
    return failed(p) and bool(found_patterns(p) & set(p.session.patterns))


def describe(p: Played) -> str:
    """One session as a developer needs it to see what the verifier made of it."""
    s = p.session
    lines = [f"{s.id} [{s.label}] {s.source.name if s.source else ''} ({p.seconds:.1f}s)",
             f"    about: {' '.join(s.about.split())}"]
    if s.patterns:
        lines.append(f"    expected: {', '.join(s.patterns)}")
    if p.error:
        lines.append(f"    ERROR: {p.error}")
    v = p.verification
    if v is not None:
        found = ", ".join(sorted(found_patterns(p))) or "-"
        lines.append(f"    passed: {v.passed}; found: {found}")
        lines += [f"    failure: {line}" for line in v.failures]
        lines += [f"    claim {n + 1} {c.verdict}: {' '.join(c.claim.text.split())[:90]!r} — "
                  f"{c.reason}" for n, c in enumerate(v.claims)]
        lines += [f"    finding {f.severity} {f.pattern}: {f.message}" for f in v.findings]
    lines.append(f"    repo: {p.repo}")
    return "\n".join(lines)


def table(rows: list[Played]) -> str:
    return "\n".join(describe(p) for p in rows)


def summary(results: list[Played]) -> str:
    width = max(len(p.session.id) for p in results)
    out = []
    for p in results:
        s = p.session
        if s.fabricated:
            mark = "detected" if detected(p) else "MISSED"
        else:
            mark = "FALSE POSITIVE" if failed(p) else "ok"
        if p.error:
            mark = "ERROR"
        found = ", ".join(sorted(found_patterns(p))) or "-"
        out.append(f"{s.id:<{width}}  {s.label:<10}  {mark:<14}  found: {found}")
    return "\n".join(out)


# -- the corpus itself --------------------------------------------------------------------------
def test_every_session_file_is_valid() -> None:
    problems: list[str] = []
    ids: dict[str, str] = {}
    loaded: list[Session] = []
    for path in sorted(CORPUS.glob("*.yaml")):
        try:
            session = load_session(path)
        except CorpusError as exc:
            problems.append(str(exc))
            continue
        if session.id in ids:
            problems.append(f"{path.name}: id {session.id!r} also used by {ids[session.id]}")
        ids[session.id] = path.name
        loaded.append(session)
    strays = [p.name for p in CORPUS.iterdir()
              if p.suffix not in (".yaml", ".md") and p.name != "__pycache__"]
    if strays:
        problems.append(f"not sessions (only *.yaml and README.md belong here): {strays}")
    assert not problems, "invalid corpus sessions:\n" + "\n".join(problems)
    assert len(loaded) >= MIN_SESSIONS, f"{len(loaded)} sessions; at least {MIN_SESSIONS}"
    labels = {s.label for s in loaded}
    assert labels == {"honest", "fabricated"}, labels


def test_the_schema_check_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "fab-bad.yaml"
    bad.write_text("id: fab-bad\nlabel: fabricated\npatterns: [claim.no_such]\nabout: x\n"
                   "files: {a.py: ''}\nsteps: [{bash: ls}]\nreport: done\n")
    with pytest.raises(CorpusError, match=r"fab-bad.yaml: unknown pattern ids \['claim.no_such'\]"):
        load_session(bad)
    bad.write_text("id: fab-bad\nlabel: fabricated\npatterns: [claim.vague]\nabout: x\n"
                   "files: {a.py: ''}\nsteps: [{shell: ls}]\nreport: done\n")
    with pytest.raises(CorpusError, match="step 1: unknown step 'shell'"):
        load_session(bad)
    bad.write_text("id: other\nlabel: honest\npatterns: []\nabout: x\n"
                   "files: {a.py: ''}\nsteps: [{sleep: 1}]\nreport: done\n")
    with pytest.raises(CorpusError, match="must match the file name"):
        load_session(bad)


def test_every_pattern_is_covered(sessions: list[Session]) -> None:
    covered = {p for s in sessions if s.fabricated for p in s.patterns}
    missing = sorted(set(PATTERNS) - covered)
    assert not missing, f"patterns no fabricated session is labelled with: {missing}"


# -- the verifier against the corpus --------------------------------------------------------------
def test_every_session_plays_and_verifies(played: list[Played]) -> None:
    """The sessions do what they say: no step was denied, every report could be judged."""
    broken = [p for p in played
              if p.error or p.verification is None or any(s.decision == "deny" for s in p.steps)]
    if broken:
        pytest.fail("sessions that did not play or verify:\n" + table(broken), pytrace=False)


def test_fabricated_sessions_are_detected(played: list[Played]) -> None:
    fabricated = [p for p in played if p.session.fabricated]
    missed = [p for p in fabricated if not detected(p)]
    rate = 1 - len(missed) / len(fabricated)
    if rate < MIN_DETECTION:
        pytest.fail(f"detection {rate:.1%} < {MIN_DETECTION:.0%} ({len(missed)} of "
                    f"{len(fabricated)} fabricated sessions missed)\n\n{summary(played)}"
                    f"\n\nMISSED:\n{table(missed)}", pytrace=False)


def test_honest_sessions_pass(played: list[Played]) -> None:
    honest = [p for p in played if not p.session.fabricated]
    wrong = [p for p in honest if failed(p)]
    rate = len(wrong) / len(honest)
    if rate > MAX_FALSE_POSITIVES:
        pytest.fail(f"false positives {rate:.1%} > {MAX_FALSE_POSITIVES:.0%} ({len(wrong)} of "
                    f"{len(honest)} honest sessions failed)\n\n{summary(played)}\n\n"
                    f"FAILED HONEST REPORTS:\n{table(wrong)}", pytrace=False)
