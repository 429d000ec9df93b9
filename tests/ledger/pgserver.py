"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` into a temp dir.

The server listens on a free loopback port (``127.0.0.1``, password authentication) and on a
unix socket in the same temp dir (trust, for the ``postgres`` superuser's setup only). It
holds one login role and database, ``codor``, owned by that role (no superuser): the DSN
tests use is ``postgresql://codor:<password>@127.0.0.1:<port>/codor``.

``initdb`` refuses to run as root, so as root (CI) every server command runs as the
``postgres`` OS user (created by Debian's ``postgresql`` package) through ``runuser`` (or
``setpriv``), and the temp dir is chowned to it. The binaries are found in
``$CODOR_PG_BINDIR``, else the newest ``/usr/lib/postgresql/<version>/bin`` (Debian), else on
``PATH``. :func:`running` always stops the server and removes the temp dir.

``python -m tests.ledger.pgserver`` starts a server and prints a throughput figure for
:class:`codor.ledger.postgres.PostgresStore` (appends of 1 KiB entries; ``--help``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PgServer", "PgServerError", "find_bindir", "running", "start"]

OS_USER = "postgres"  # who runs the server when we are root
DB = ROLE = "codor"


class PgServerError(RuntimeError):
    """The throwaway server could not be set up (what is missing, or the server's log)."""


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live, or ``None``."""
    env = os.environ.get("CODOR_PG_BINDIR")
    candidates = [Path(env)] if env else []
    versions = sorted((p for p in Path("/usr/lib/postgresql").glob("*/bin")),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                      reverse=True)
    candidates += versions
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner_prefix() -> list[str]:
    """The command prefix that runs a server command as its owner."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        raise PgServerError(f"running as root, but there is no {OS_USER!r} OS user to run "
                            "PostgreSQL as (install Debian's postgresql package: "
                            "scripts/install-system-deps.sh)") from None
    if shutil.which("runuser"):
        return ["runuser", "-u", OS_USER, "--"]
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--init-groups"]
    raise PgServerError("running as root, but neither runuser nor setpriv is available")


@dataclass
class PgServer:
    """A running throwaway server; :meth:`stop` it (idempotent)."""

    bindir: Path
    base: Path
    port: int
    password: str
    prefix: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base

    @property
    def dsn(self) -> str:
        """The test role's DSN: TCP on loopback, with a password."""
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.port}/{DB}"

    @property
    def admin_dsn(self) -> str:
        """The superuser's DSN over the unix socket (trust)."""
        return f"host={self.socket_dir} port={self.port} user=postgres dbname=postgres"

    def log(self) -> str:
        try:
            return (self.base / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "-D",
                               str(self.data), *args], cwd=self.base, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and remove its temp dir."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if (self.data / "postmaster.pid").exists():
                done = self.pg_ctl("stop", "-m", "fast", "-w", "-t", "20", timeout=30)
                if done.returncode != 0:
                    self.pg_ctl("stop", "-m", "immediate", "-w", "-t", "20", timeout=30)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start(*, fsync: bool = False, settings: Sequence[str] = ()) -> PgServer:
    """Create, start and provision a server (see the module doc). ``fsync=False`` (the
    default) trades crash safety *of the server* for speed: fine for a throwaway server, as
    the tests kill clients, never the server. ``settings`` are extra ``postgresql.conf``
    lines."""
    bindir = find_bindir()
    if bindir is None:
        raise PgServerError("PostgreSQL server binaries (initdb, pg_ctl) not found: install "
                            "Debian's postgresql package (scripts/install-system-deps.sh) or "
                            "set CODOR_PG_BINDIR")
    prefix = _as_owner_prefix()
    base = Path(tempfile.mkdtemp(prefix="codor-pg-"))
    server = PgServer(bindir, base, 0, secrets.token_urlsafe(16), prefix)
    try:
        if prefix:
            os.chown(base, pwd.getpwnam(OS_USER).pw_uid, pwd.getpwnam(OS_USER).pw_gid)
        pwfile = base / "pwfile"
        pwfile.write_text(secrets.token_urlsafe(16) + "\n")  # the superuser's: never used
        if prefix:
            os.chown(pwfile, pwd.getpwnam(OS_USER).pw_uid, pwd.getpwnam(OS_USER).pw_gid)
        pwfile.chmod(0o600)
        init = subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(server.data), "-U", "postgres",
             "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            cwd=base, capture_output=True, text=True, timeout=120, check=False)
        pwfile.unlink()
        if init.returncode != 0:
            raise PgServerError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        conf = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{base}'",
            f"fsync = {'on' if fsync else 'off'}",
            "max_connections = 40",
            "shared_buffers = 64MB",
            "log_min_messages = warning",
            "log_min_error_statement = panic",  # refused tamper statements are expected
            *settings,
        ]
        for _attempt in range(5):  # a free port may be taken before the server binds it
            server.port = _free_port()
            with (server.data / "postgresql.conf").open("a") as f:
                f.write("\n".join([*conf, f"port = {server.port}", ""]))
            started = server.pg_ctl("start", "-w", "-t", "60", "-l",
                                    str(base / "server.log"), timeout=90)
            if started.returncode == 0:
                break
            if "could not bind" not in server.log() and "in use" not in server.log():
                raise PgServerError(f"pg_ctl start failed:\n{started.stdout}\n"
                                    f"{started.stderr}\n{server.log()}")
        else:
            raise PgServerError(f"no free port for PostgreSQL:\n{server.log()}")
        _provision(server)
    except BaseException:
        server.stop()
        raise
    atexit.register(server.stop)  # even if the caller forgets (stop() is idempotent)
    return server


def _provision(server: PgServer) -> None:
    """Create the test role and its database (over the unix socket, as the superuser)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(ROLE), sql.Literal(server.password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(DB), sql.Identifier(ROLE)))


@contextlib.contextmanager
def running(*, fsync: bool = False, settings: Sequence[str] = ()) -> Iterator[PgServer]:
    """A server for the ``with`` block; always stopped and removed afterwards."""
    server = start(fsync=fsync, settings=settings)
    try:
        yield server
    finally:
        server.stop()


# -- throughput figure (not a test) -----------------------------------------------------------
def _bench(argv: Sequence[str] | None = None) -> None:
    from codor.ledger.postgres import PostgresStore
    from codor.ledger.store import verify_chain

    ap = argparse.ArgumentParser(prog="python -m tests.ledger.pgserver",
                                 description="PostgresStore append throughput on a "
                                             "throwaway server")
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=100, help="leaves per append() call")
    ap.add_argument("--size", type=int, default=1024, help="bytes per leaf")
    ap.add_argument("--durable", action="store_true", help="durable=True on every append")
    ap.add_argument("--no-fsync", action="store_true", help="run the server with fsync=off")
    ap.add_argument("--socket", action="store_true", help="connect over the unix socket")
    args = ap.parse_args(argv)
    with running(fsync=not args.no_fsync) as server:
        dsn = server.dsn
        if args.socket:
            dsn = (f"host={server.socket_dir} port={server.port} user={ROLE} dbname={DB} "
                   f"password={server.password}")
        leaves = [os.urandom(args.size) for _ in range(args.batch)]
        with PostgresStore(dsn, batch_size=args.batch) as store:
            store.append([b"warm-up"], durable=True)
            t0 = time.perf_counter()
            done = 0
            while done < args.entries:
                n = min(args.batch, args.entries - done)
                store.append(leaves[:n], durable=args.durable)
                done += n
            store.flush()
            elapsed = time.perf_counter() - t0
            size = store.size()
            t1 = time.perf_counter()
            prev = verify_chain(store.entries(0, 1))
            for start in range(1, size, 10_000):
                prev = verify_chain(store.entries(start, min(size, start + 10_000)), prev,
                                    start)
            read = time.perf_counter() - t1
        where = "unix socket" if args.socket else "TCP 127.0.0.1"
        version = subprocess.run([str(server.bindir / "postgres"), "--version"],
                                 capture_output=True, text=True, check=False).stdout.strip()
        print(f"PostgresStore on {version or 'PostgreSQL'}: "
              f"{args.entries} entries of {args.size} B, {args.batch} per append"
              f"{' (durable)' if args.durable else ''}, fsync "
              f"{'off' if args.no_fsync else 'on'}, {where}: {elapsed:.2f} s = "
              f"{args.entries / elapsed:,.0f} entries/s; read back + verify_chain "
              f"{size / read:,.0f} entries/s")


if __name__ == "__main__":
    _bench()
