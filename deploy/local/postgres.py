"""PostgreSQL of the local stack, run from the server binaries of the machine
(``initdb``/``pg_ctl``) with its cluster in ``.local/pg``, durable unless a benchmark asks
otherwise (:class:`Durability`). Every port comes from :class:`shared.settings.StackSettings`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pwd
import shutil
import stat
import subprocess
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from deploy.local.launcher import LOCAL_DIR, StackError, is_root, port_open, run_tool, stack_lock
from shared.settings import KEYRING_DATABASE, SERVICE_PORTS, StackSettings

log = logging.getLogger("outreach.stack")

PG_ROOT = LOCAL_DIR / "pg"
PG_DATA = PG_ROOT / "data"
PG_RUN = PG_ROOT / "run"
PG_LOG = PG_ROOT / "postgres.log"
PG_CONF_NAME = "outreach.conf"
PG_FALLBACK_BINDIR = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"
PG_START_TIMEOUT_S = 60

DATABASES: tuple[str, ...] = (*SERVICE_PORTS, KEYRING_DATABASE)
"""One database per service plus the keyring's own."""


class Durability(StrEnum):
    """How PostgreSQL stores a commit. Every start and every ``up``/``pg-up`` sets it, to
    ``durable`` unless the unsafe mode is asked for by name, so the unsafe mode never
    outlives the benchmark that asked for it."""

    DURABLE = "durable"
    """A commit is answered once its WAL is flushed to disk (PostgreSQL's own defaults):
    what was acknowledged survives a crash of PostgreSQL or of the machine."""
    UNSAFE_FOR_BENCHMARKS = "unsafe-for-benchmarks"
    """No flush at all: a commit is answered (and seen by the relay, which publishes it) before
    it is on disk. A crash of PostgreSQL loses acknowledged commits, which Kafka and the other
    services may already hold; a crash of the machine may corrupt the cluster. Only for
    benchmarks that measure the code, never for data anyone needs."""


PG_DURABILITY: dict[Durability, dict[str, str]] = {
    Durability.DURABLE: {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"},
    Durability.UNSAFE_FOR_BENCHMARKS: {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    },
}
"""The server settings of each mode (all three take effect on a reload, no restart)."""


# --- the server's files -----------------------------------------------------------------------


@functools.cache
def pg_bindir() -> Path:
    """Directory with initdb/pg_ctl: ``pg_config --bindir`` if it has them, else Debian's 15."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=False
            ).stdout.strip()
            if out and (Path(out) / "initdb").is_file():
                return Path(out)
    if (PG_FALLBACK_BINDIR / "initdb").is_file():
        return PG_FALLBACK_BINDIR
    raise StackError(
        "PostgreSQL server binaries not found (no initdb next to `pg_config --bindir`, "
        f"nor in {PG_FALLBACK_BINDIR}); install the postgresql-15 package"
    )


def _pg_cmd(program: str, *args: str | Path) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the postgres user."""
    cmd = [str(pg_bindir() / program), *(str(arg) for arg in args)]
    if is_root():
        return ["runuser", "-u", PG_OS_USER, "--", *cmd]
    return cmd


def pg_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise StackError(
            f"running as root, but there is no '{PG_OS_USER}' user to run PostgreSQL as"
        ) from None


def _can_traverse(path: Path, user: pwd.struct_passwd) -> bool:
    st = path.stat()
    groups = {user.pw_gid, *(g for g in os.getgrouplist(user.pw_name, user.pw_gid))}
    if st.st_uid == user.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _prepare_pg_dirs() -> None:
    """Create .local/pg; as root hand it to the postgres user and check it can get there."""
    PG_RUN.mkdir(parents=True, exist_ok=True)
    if not is_root():
        return
    user = pg_os_user()
    # Only .local is ours to loosen; the directories above it must already be traversable.
    if not _can_traverse(LOCAL_DIR, user):
        LOCAL_DIR.chmod(LOCAL_DIR.stat().st_mode | stat.S_IXOTH)
    for top, dirs, files in os.walk(PG_ROOT):
        for name in (top, *(os.path.join(top, entry) for entry in dirs + files)):
            st = os.lstat(name)
            if st.st_uid != user.pw_uid or st.st_gid != user.pw_gid:
                os.chown(name, user.pw_uid, user.pw_gid, follow_symlinks=False)
    probe = subprocess.run(
        ["runuser", "-u", PG_OS_USER, "--", "test", "-w", str(PG_ROOT), "-a", "-x", str(PG_ROOT)],
        check=False,
        cwd=PG_ROOT,
    )
    if probe.returncode != 0:
        blocked = [p for p in reversed(PG_ROOT.parents) if not _can_traverse(p, user)]
        hint = f"; e.g. chmod o+x {blocked[0]}" if blocked else ""
        raise StackError(
            f"the '{PG_OS_USER}' user cannot reach {PG_ROOT}: every parent directory must be "
            f"traversable by it{hint}"
        )


def _initdb(settings: StackSettings) -> None:
    """Create the cluster with settings.pg_user as superuser (password via --pwfile)."""
    if PG_DATA.exists() and any(PG_DATA.iterdir()):
        raise StackError(
            f"{PG_DATA} exists but holds no initialised cluster (no PG_VERSION); "
            "remove it and run `up` again"
        )
    log.info("postgres: initialising %s", PG_DATA)
    pwfile = PG_ROOT / ".initdb-password"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(settings.pg_password.get_secret_value() + "\n")
    if is_root():
        user = pg_os_user()
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    try:
        run_tool(
            _pg_cmd(
                "initdb",
                "-D", PG_DATA,
                "-U", settings.pg_user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ),
            "initdb",
            cwd=PG_ROOT,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)


def _write_pg_conf(settings: StackSettings, durability: Durability) -> None:
    """Our settings live in data/outreach.conf (rewritten on every start), included at the end."""
    storage = "\n".join(f"{key} = {value}" for key, value in PG_DURABILITY[durability].items())
    conf = f"""\
# Written by deploy/local/postgres.py before every start; change ports via OUTREACH_* instead.
listen_addresses = '{settings.pg_host}'
port = {settings.pg_port}
unix_socket_directories = '{PG_RUN}'
max_connections = 600
# A client gone without a word (its host, the network) is ended within seconds, and with it
# its session advisory locks, so another replica takes over the work the lock guarded.
tcp_keepalives_idle = 5
tcp_keepalives_interval = 2
tcp_keepalives_count = 3
client_connection_check_interval = 2000
# Durability: {durability} (stack.py up --pg-durability; see Durability in postgres.py)
{storage}
"""
    target = PG_DATA / PG_CONF_NAME
    target.write_text(conf)
    main_conf = PG_DATA / "postgresql.conf"
    include = f"include_if_exists = '{PG_CONF_NAME}'"
    if include not in main_conf.read_text():
        with main_conf.open("a") as fh:
            fh.write(f"\n# Settings of the Outreach local stack\n{include}\n")
    if is_root():
        user = pg_os_user()
        os.chown(target, user.pw_uid, user.pw_gid)


# --- the running server -----------------------------------------------------------------------


def pg_managed_running() -> bool:
    """Whether the cluster in .local/pg/data is running (``pg_ctl status``)."""
    if not (PG_DATA / "PG_VERSION").exists():
        return False
    done = subprocess.run(
        _pg_cmd("pg_ctl", "status", "-D", PG_DATA),
        capture_output=True,
        check=False,
        cwd=PG_ROOT,
    )
    return done.returncode == 0


def pg_connect(settings: StackSettings, dbname: str, timeout: int = 3) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=settings.pg_host,
        port=settings.pg_port,
        user=settings.pg_user,
        password=settings.pg_password.get_secret_value(),
        dbname=dbname,
        connect_timeout=timeout,
        autocommit=True,
    )


def _wait_for_pg(settings: StackSettings, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with pg_connect(settings, "postgres") as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise StackError(
                    f"PostgreSQL at {settings.pg_host}:{settings.pg_port} does not accept "
                    f"connections after {timeout_s:.0f} s: {exc}",
                    PG_LOG,
                ) from exc
            time.sleep(0.2)


def ensure_databases(settings: StackSettings) -> list[str]:
    """Create the service databases and the keyring database if missing; return the new ones."""
    created: list[str] = []
    with pg_connect(settings, "postgres") as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name in existing:
                continue
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                continue  # created concurrently by someone else
            created.append(name)
    if created:
        log.info("postgres: created databases %s", ", ".join(created))
    return created


def pg_durability(settings: StackSettings) -> Durability | None:
    """The mode the server runs in (``None``: neither mode's settings, e.g. mixed)."""
    with pg_connect(settings, "postgres") as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
            (list(PG_DURABILITY[Durability.DURABLE]),),
        ).fetchall()
    current = {str(name): str(value) for name, value in rows}
    return next((mode for mode, wanted in PG_DURABILITY.items() if wanted == current), None)


def _set_durability(settings: StackSettings, durability: Durability) -> None:
    """Switch our running server to ``durability`` (a reload: no restart, no lost sessions)."""
    if pg_durability(settings) is durability:
        return
    _write_pg_conf(settings, durability)
    run_tool(
        _pg_cmd("pg_ctl", "reload", "-D", PG_DATA), "reloading PostgreSQL", PG_LOG, cwd=PG_ROOT
    )
    deadline = time.monotonic() + 10
    while pg_durability(settings) is not durability:
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL did not switch to {durability} after a reload", PG_LOG)
        time.sleep(0.1)
    if durability is Durability.DURABLE:
        # What was written while fsync was off may still be only in the kernel's page cache;
        # PostgreSQL's documentation asks for it to be flushed when fsync is turned back on.
        with pg_connect(settings, "postgres") as conn:
            conn.execute("CHECKPOINT")
        os.sync()
    log.info("postgres: switched to %s", durability)


def _use_foreign_server(settings: StackSettings, durability: Durability) -> None:
    """A server we did not start listens on the port: use it as it is, if it lets us in."""
    where = f"{settings.pg_host}:{settings.pg_port}"
    try:
        with pg_connect(settings, "postgres") as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        raise StackError(
            f"port {where} is taken by a process that is not our PostgreSQL "
            f"(or it rejects user {settings.pg_user!r}): {exc}"
        ) from None
    log.info("postgres: using the server already listening at %s (not ours)", where)
    running = pg_durability(settings)
    if running is not durability:
        log.warning(
            "postgres: that server runs %s, not %s (not ours: left as it is)",
            running or "with other fsync/synchronous_commit/full_page_writes",
            durability,
        )


def _start(settings: StackSettings, durability: Durability) -> None:
    """Start our server (initialising the cluster on first use) in ``durability`` mode."""
    started = time.monotonic()
    _prepare_pg_dirs()
    if not (PG_DATA / "PG_VERSION").exists():
        _initdb(settings)
    _write_pg_conf(settings, durability)
    run_tool(
        _pg_cmd(
            "pg_ctl", "start", "-D", PG_DATA, "-l", PG_LOG, "-w", "-t", str(PG_START_TIMEOUT_S)
        ),
        "starting PostgreSQL",
        PG_LOG,
        cwd=PG_ROOT,
    )
    _wait_for_pg(settings, timeout_s=PG_START_TIMEOUT_S)
    where = f"{settings.pg_host}:{settings.pg_port}"
    elapsed = time.monotonic() - started
    log.info("postgres: started at %s (%s) in %.1f s", where, durability, elapsed)


def ensure_postgres(
    settings: StackSettings | None = None, durability: Durability = Durability.DURABLE
) -> None:
    """Start PostgreSQL (initialising it on first use) in ``durability`` mode and create the
    databases; a running server of ours is switched to ``durability``. Idempotent."""
    settings = settings or StackSettings()
    with stack_lock():
        if pg_managed_running():
            log.info("postgres: already running at %s:%s", settings.pg_host, settings.pg_port)
            _set_durability(settings, durability)
        elif port_open(settings.pg_host, settings.pg_port):
            _use_foreign_server(settings, durability)
        else:
            _start(settings, durability)
        ensure_databases(settings)


def stop_postgres(immediate: bool = False) -> None:
    """Stop our PostgreSQL: a fast shutdown (sessions ended, a checkpoint written), or with
    ``immediate`` as in a crash (every process ends at once; recovery from the WAL at the next
    start). A server we did not start is left alone."""
    with stack_lock():
        if not pg_managed_running():
            log.info("postgres: not running")
            return
        mode = "immediate" if immediate else "fast"
        run_tool(
            _pg_cmd("pg_ctl", "stop", "-D", PG_DATA, "-m", mode, "-w", "-t", "60"),
            "stopping PostgreSQL",
            PG_LOG,
            cwd=PG_ROOT,
        )
        log.info("postgres: stopped (%s)", mode)
