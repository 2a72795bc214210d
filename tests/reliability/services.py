"""Private Redis and PostgreSQL instances for the reliability tests that stop, restart or flush them.

The shared services on 6379/5432 belong to everyone on the machine: a test that takes Redis or PostgreSQL away runs
its own instance on a free port, in a temporary directory, and always stops it (`stop` is safe to call twice, after
a failed start, and runs at interpreter exit too, so a failing test never leaves a server behind).

We run as root and PostgreSQL refuses to: initdb, pg_ctl and the server run as the `postgres` user through
`runuser`, in a data directory chown'd to it. Durability is not under test here (a restart is a clean or immediate
shutdown, never a power cut), so fsync is off, which keeps initdb and the schema migration quick. Commits stay
synchronous: an immediate shutdown must not lose a commit the server acknowledged, or a test would blame the app.

Also here, for the outage scenarios: `private_deployment` (a prepared harness Deployment on those private servers,
torn down whatever happens), `fire_at_rate` (webhooks at a fixed arrival rate, whatever the answers' speed) and
`sweeps_done` (proof that a beat sweep ran after some moment, to wait on instead of sleeping).
"""

import atexit
import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from psycopg import sql as pgsql
from redis.backoff import NoBackoff
from redis.retry import Retry

from bench.textback_latency import pct
from tests.reliability.harness import Deployment, free_port, scratch_database, wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


class PrivateRedis:
    """A redis-server of our own on `port`, with no persistence (a restart is an empty Redis, as after a crash of
    an instance without AOF), its files and log in `directory`."""

    def __init__(self, port: int, directory: Path):
        self.port = port
        self.directory = Path(directory)
        self.process: subprocess.Popen | None = None
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def client(self) -> redis.Redis:
        """A client that fails at once when the server is away (redis-py's default retries for seconds)."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=5, retry=Retry(NoBackoff(), 0)
        )

    def ping(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def start(self) -> "PrivateRedis":
        """Start the server and wait until it answers PING (the same port every time, so clients reconnect)."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.directory),
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(self._up_or_died, timeout=20, interval=0.05, what=f"redis-server on port {self.port}")
        except AssertionError:
            self.stop()
            raise
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} exited: {self.log_tail()}")
        return self

    def _up_or_died(self) -> bool:
        return self.process.poll() is not None or self.ping()

    def stop(self) -> None:
        """Stop the server now (SIGKILL: an outage, not a maintenance window) and wait until the port is closed.
        Idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def flush(self) -> None:
        """FLUSHALL on this private instance only (never on the shared Redis)."""
        with self.client() as client:
            client.flushall()


class PrivatePostgres:
    """A PostgreSQL 15 cluster of our own: `initdb` into `datadir` (trust auth for the `postgres` role, listening on
    127.0.0.1:`port` only, its socket inside the data directory), then start/stop/restart through pg_ctl."""

    def __init__(self, port: int, datadir: Path):
        self.port = port
        self.datadir = Path(datadir)
        atexit.register(self.stop)

    @property
    def server_url(self) -> str:
        """The maintenance database's URL (for creating the test's own database)."""
        return self.url("postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{self.port}/{database}"

    @property
    def log_path(self) -> Path:
        return self.datadir.parent / f"postgres-{self.port}.log"

    def _as_postgres(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["runuser", "-u", PG_USER, "--", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result

    def initdb(self) -> "PrivatePostgres":
        """Create the cluster. The data directory's ancestors (pytest's temporary directories are private to root)
        get the search bit for others, so the postgres user can reach it; nothing becomes readable."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        for ancestor in self.datadir.parents:
            mode = ancestor.stat().st_mode
            if not mode & stat.S_IXOTH:
                ancestor.chmod(mode | stat.S_IXOTH)
        shutil.chown(self.datadir, PG_USER, PG_USER)
        self.datadir.chmod(0o700)
        self._as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.datadir}'",
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "32MB",
        }
        with (self.datadir / "postgresql.auto.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        return self

    def start(self) -> "PrivatePostgres":
        """Start the server and wait until it accepts connections."""
        self.log_path.touch()
        shutil.chown(self.log_path, PG_USER, PG_USER)
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log_path), "-w", "-t", "60", "start"
        )
        wait_until(self.accepting, timeout=30, interval=0.05, what=f"PostgreSQL on port {self.port}")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back and disconnect every session; `immediate`: like a crash, recovery on
        the next start). Idempotent, and safe when the cluster was never created: teardown calls it always, and
        kills the postmaster outright if pg_ctl cannot stop it."""
        pid_file = self.datadir / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", "30", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)

    def restart(self, mode: str = "fast") -> float:
        """Stop and start again on the same port; returns how many seconds the server was away."""
        started = time.monotonic()
        self.stop(mode)
        self.start()
        return time.monotonic() - started

    def accepting(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except FileNotFoundError:
            return ""


@dataclass
class Shot:
    """One request fired by `fire_at_rate`: when it left and came back (monotonic seconds), and its HTTP status
    (0: the connection broke)."""

    index: int
    started: float
    finished: float
    status: int

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def fire_at_rate(actions: list[Callable[[], int]], *, rate: float, threads: int = 32) -> list[Shot]:
    """Start action i at i/rate seconds from now, whatever the earlier ones are doing (a slow answer must not slow
    the arrivals, as the carrier would not wait either), and return one Shot per action once all have answered."""
    shots: list[Shot] = []
    lock = threading.Lock()
    origin = time.monotonic()

    def run(index: int, action: Callable[[], int]) -> None:
        delay = origin + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        started = time.monotonic()
        status = action()
        with lock:
            shots.append(Shot(index, started, time.monotonic(), status))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(run, index, action) for index, action in enumerate(actions)]:
            future.result()
    return sorted(shots, key=lambda shot: shot.index)


@dataclass
class PrivateDeployment:
    """A Deployment whose Redis (and, when asked, PostgreSQL) is a private instance this test may take away."""

    deployment: Deployment
    redis: PrivateRedis
    postgres: PrivatePostgres | None


@contextlib.contextmanager
def private_deployment(request, tmp_path: Path, *, own_postgres: bool = False, **kwargs) -> Iterator[PrivateDeployment]:
    """A prepared (migrated, seeded, not started) Deployment on a private Redis, and on a private PostgreSQL cluster
    when `own_postgres` (else a scratch database on the shared server, named rely_b_<file>_<xdist worker>). Whatever
    happens, every process and private server is stopped and the scratch database dropped; when a test using it
    failed (any scope), every process's log tail is printed (as the `deploy` fixture of conftest.py does)."""
    from tests.reliability.conftest import PG_URL

    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"rely_b_{Path(request.node.fspath).stem.removeprefix('test_')}_{worker_id}"[:63]
    redis_server = PrivateRedis(free_port(), tmp_path / "redis")
    # Not under tmp_path: every pytest run makes its temporary root private to root again (mode 0700), which would
    # lock the postgres user out of a running cluster whenever another run starts.
    pg_dir = Path(tempfile.mkdtemp(prefix="rely_b_pg_")) if own_postgres else None
    postgres = PrivatePostgres(free_port(), pg_dir / "data") if pg_dir else None
    server_url = PG_URL
    deployment = None
    failed_before = request.session.testsfailed
    failed = True  # until the tests using it have run: a failure while setting up shows the logs too
    try:
        redis_server.start()
        if postgres is not None:
            postgres.initdb().start()
            server_url = postgres.server_url.rsplit("/", 1)[0]
        deployment = Deployment(
            database_url=scratch_database(server_url, name),
            redis_url=redis_server.url,
            log_dir=tmp_path / "logs",
            **kwargs,
        )
        deployment.prepare()
        yield PrivateDeployment(deployment, redis_server, postgres)
        failed = request.session.testsfailed > failed_before
    finally:
        if deployment is not None:
            deployment.stop()
        if failed:
            print(deployment.logs() if deployment else "", redis_server.log_tail())
            print(postgres.log_tail() if postgres else "", flush=True)
        redis_server.stop()
        if postgres is not None:
            postgres.stop("immediate")
            shutil.rmtree(pg_dir, ignore_errors=True)
        elif deployment is not None:
            with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
                conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


def pct_ms(shots: list[Shot], p: float) -> float:
    """The p-th percentile of the shots' answer times, in milliseconds (bench's percentile)."""
    return round(pct([shot.seconds * 1000 for shot in shots], p), 1)


def sweeps_done(deployment: Deployment, task: str = "messaging.tasks.sweep_outbound") -> int:
    """How many runs of a beat task the deployment's workers have finished so far (from their logs): waiting for
    this to grow proves a sweep ran after some moment, without guessing how long that takes."""
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded", deployment.worker_log()))
