"""Daemon settings: file < environment < flags, validated once, one-line errors naming the
setting and where it came from; example secrets are refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from codor.server.settings import SettingsError, load_settings


def test_defaults_are_loopback_and_the_workspace_ledger(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    assert (s.host, s.port, s.ledger) == ("127.0.0.1", 8787, None)
    assert s.state_target == str(tmp_path / ".codor" / "state.db")


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    (tmp_path / ".codor").mkdir()
    (tmp_path / ".codor" / "server.yaml").write_text("port: 9001\nmax_batch: 10\n")
    s = load_settings(tmp_path, env={"CODOR_SERVE_PORT": "9002",
                                     "CODOR_SERVE_WEBHOOKS": "http://127.0.0.1:1/a,"})
    assert (s.port, s.max_batch, s.webhooks) == (9002, 10, ("http://127.0.0.1:1/a",))
    assert load_settings(tmp_path, env={"CODOR_SERVE_PORT": "9002"}, port=9003).port == 9003


def test_a_postgres_ledger_shares_its_database_for_state(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={}, ledger="postgresql://u@127.0.0.1/db")
    assert s.state_target == "postgresql://u@127.0.0.1/db"
    with pytest.raises(SettingsError, match=r"--ledger: ledger must be a postgresql://"):
        load_settings(tmp_path, env={}, ledger="mysql://x/y")


@pytest.mark.parametrize("secret", ["changeme", "secret", "x" * 40, "short-but-random-9f2"])
def test_default_example_or_short_secrets_are_refused(tmp_path: Path, secret: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path, env={"CODOR_SERVE_SESSION_SECRET": secret})
    assert err.value.location == "CODOR_SERVE_SESSION_SECRET"
    assert "session_secret" in err.value.one_line()


def test_errors_name_the_setting_and_its_source(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("port: 70000\n")
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path, config=tmp_path / "s.yaml", env={})
    assert err.value.location == str(tmp_path / "s.yaml") and "port" in err.value.message
    (tmp_path / "s.yaml").write_text("prot: 1\n")
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load_settings(tmp_path, config=tmp_path / "s.yaml", env={})
    with pytest.raises(SettingsError, match="unknown setting 'bogus'"):
        load_settings(tmp_path, env={"CODOR_SERVE_BOGUS": "1"})
    (tmp_path / "s.yaml").write_text("port: [1\n")
    with pytest.raises(SettingsError, match="not valid YAML") as err:
        load_settings(tmp_path, config=tmp_path / "s.yaml", env={})
    assert err.value.location is not None and err.value.location.endswith("s.yaml:2")


def test_the_cookie_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    first = s.cookie_secret()
    assert len(first) >= 32 and s.cookie_secret() == first
    mode = (tmp_path / ".codor" / "server" / "secret").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    real = "k" + "9f3Zq".join(str(i) for i in range(12))
    assert load_settings(tmp_path, env={"CODOR_SERVE_SESSION_SECRET": real}).cookie_secret() \
        == real


def test_workers_starting_together_agree_on_one_cookie_secret(tmp_path: Path) -> None:
    import threading

    s = load_settings(tmp_path, env={})
    got: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        got.append(s.cookie_secret())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and len(got) == 8
    secret_dir = tmp_path / ".codor" / "server"
    assert [p.name for p in secret_dir.iterdir()] == ["secret"]  # no temporary file left
    (secret_dir / "secret").write_text("short\n")  # broken: replaced by a new one
    fresh = s.cookie_secret()
    assert fresh != got[0] and len(fresh) >= 32 and s.cookie_secret() == fresh
