"""Choosing a backend: every guarantee or a clear refusal, never a silent downgrade."""

from __future__ import annotations

import pytest

from codor.errors import SandboxUnavailableError
from codor.policy.sandbox_section import SandboxSettings
from codor.sandbox import ALL_GUARANTEES, GUARANTEES, choose_backend, report
from codor.sandbox.bwrap import BubblewrapBackend
from codor.sandbox.container import ContainerBackend
from codor.sandbox.landlock import LandlockBackend

NO_BWRAP = BubblewrapBackend(bwrap="/nonexistent/bwrap")


def test_auto_picks_bubblewrap_which_gives_every_guarantee() -> None:
    choice = choose_backend(SandboxSettings())
    assert choice.backend.name == "bubblewrap" and not choice.weaker
    assert choice.backend.guarantees("proxy") == ALL_GUARANTEES


def test_without_bubblewrap_the_policy_is_refused_with_what_is_missing_and_the_fix() -> None:
    backends = [NO_BWRAP, LandlockBackend(), ContainerBackend()]
    with pytest.raises(SandboxUnavailableError) as caught:
        choose_backend(SandboxSettings(), backends)
    message = caught.value.message
    assert "bubblewrap: unavailable (bwrap is not installed at /nonexistent/bwrap" in message
    assert "landlock: available but lacks" in message and "protected_paths" in message
    assert "allow_weaker_isolation: true" in message and "install bubblewrap" in message
    assert caught.value.code == "E_SANDBOX_UNAVAILABLE"


def test_weaker_isolation_must_be_allowed_explicitly_and_is_reported() -> None:
    backends = [NO_BWRAP, LandlockBackend(), ContainerBackend()]
    choice = choose_backend(SandboxSettings(allow_weaker_isolation=True), backends)
    assert choice.backend.name == "landlock" and choice.weaker
    assert "pid_isolation" in choice.missing and "protected_paths" in choice.missing


def test_asking_for_a_weaker_backend_by_name_still_needs_the_flag() -> None:
    with pytest.raises(SandboxUnavailableError, match="landlock: available but lacks"):
        choose_backend(SandboxSettings(backend="landlock"))
    choice = choose_backend(SandboxSettings(backend="landlock", allow_weaker_isolation=True))
    assert choice.backend.name == "landlock"


def test_an_unavailable_backend_asked_for_by_name_is_refused() -> None:
    container = ContainerBackend()
    ok, why = container.available()
    if ok:  # an engine answers here: the container backend is usable, with the flag
        choice = choose_backend(SandboxSettings(backend="container",
                                                allow_weaker_isolation=True))
        assert choice.backend.name == "container"
        return
    with pytest.raises(SandboxUnavailableError, match="container: unavailable"):
        choose_backend(SandboxSettings(backend="container", allow_weaker_isolation=True))
    assert why


def test_report_lists_every_backend_with_reason_and_guarantees() -> None:
    rows = {row.name: row for row in report()}
    assert set(rows) == {"bubblewrap", "landlock", "container"}
    assert rows["bubblewrap"].available and rows["bubblewrap"].missing == ()
    for row in rows.values():
        assert row.reason
        assert set(row.guarantees) | set(row.missing) == set(GUARANTEES)
        assert row.to_json()["name"] == row.name
