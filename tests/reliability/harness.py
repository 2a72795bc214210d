"""SecondDesk deployed as separate processes, for fault-injection tests.

A `Deployment` runs gunicorn (2 gthread workers), a Celery worker, Celery beat and the fake Twilio API
(tests/fake_twilio.py as a process) against a scratch PostgreSQL database and a Redis database, with DEBUG off, as
production would. Each process can be stopped, killed and started again on its own; everything a test needs to
observe goes through the real boundaries: signed webhooks in, the carrier's request log and SQL out. The process
commands follow bench/textback_latency.py, whose Stack and production-like environment (base_env) are reused.

Fault injection never touches production code: `web_module=` / `worker_app=` select wrapper entry points (see
tests/reliability/faults.py) that patch the app at import time when told to by environment variables.
"""

import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import psycopg
import requests
from psycopg import sql as pgsql

from bench.textback_latency import (
    PY,
    ROOT,
    Stack,
    base_env,
    celery_beat_command,
    celery_worker_command,
    fake_carrier_command,
    gunicorn_command,
)
from tests.twilio import payload, sign

ACCOUNT_SID = "AC" + "7e" * 16
AUTH_TOKEN = "5a" * 16
NUMBER = "+14155238886"
BUSINESS_SLUG = "rely"
API_KEY = "sd_reliability" + "0" * 32  # a REST API key of the seeded business (only its hash is stored)
WORKER_CONCURRENCY = 4
# Production timings shortened (settings read from the environment) so a scenario recovers in seconds, not
# minutes. The "stuck sending" threshold stays above connect + read timeout, so no live send is ever taken for dead.
TEST_TIMINGS = {
    "TWILIO_CONNECT_TIMEOUT": "1",
    "TWILIO_READ_TIMEOUT": "2",
    "MESSAGING_STUCK_SENDING_SECONDS": "6",
    "MESSAGING_RECONCILE_AFTER_SECONDS": "2",
    "MESSAGING_SWEEP_REENQUEUE_SECONDS": "3",
    "MESSAGING_RESEND_ABSENT_AFTER_SECONDS": "3",
}


SEED = f"""
import datetime as dt
from tenants.models import ApiKey, Business, BusinessHours, Membership, User
from telephony.models import CarrierCredential, PhoneNumber
b = Business.objects.create(name="Rely Plumbing", slug="{BUSINESS_SLUG}", timezone="America/New_York")
BusinessHours.objects.bulk_create(
    BusinessHours(business=b, weekday=d, opens=dt.time(0), closes=dt.time(0)) for d in range(7))
c = CarrierCredential(business=b, provider="twilio", account_sid="{ACCOUNT_SID}")
c.auth_token = "{AUTH_TOKEN}"
c.save()
PhoneNumber.objects.create(business=b, e164="{NUMBER}", provider="twilio", mode="forwarded", voicemail_enabled=False)
owner = User.objects.create_user(email="owner@rely.test", password=None)
Membership.objects.create(business=b, user=owner, role="owner")
ApiKey.objects.create(
    business=b, name="reliability", prefix="{API_KEY[:12]}", key_hash=ApiKey.hash_secret("{API_KEY}"), created_by=owner)
"""


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick), so parallel runs never collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.2, what: str = "") -> float:
    """Poll `predicate` until it returns something truthy; return the seconds it took. A predicate that raises
    counts as not yet (a process may be restarting). Raises AssertionError naming `what` on timeout."""
    started = time.monotonic()
    last_error: Exception | None = None
    while True:
        try:
            if predicate():
                return time.monotonic() - started
        except Exception as exc:
            last_error = exc
        if time.monotonic() - started > timeout:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate!r}{detail}")
        time.sleep(interval)


def scratch_database(server_url: str, name: str) -> str:
    """Drop `name` if it exists (closing anyone still connected from an earlier crashed run) and create it empty.
    Returns its URL."""
    url = f"{server_url.rstrip('/')}/{name}"
    drop_database(url)
    with psycopg.connect(f"{server_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    return url


def drop_database(url: str) -> None:
    """Drop the database at `url`, closing anyone still connected."""
    server_url, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


class _LoggedStack(Stack):
    """bench's Stack, with single processes stoppable."""

    def end(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Signal one process's group (the process and its children) and wait for it; SIGKILL if it lingers."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if proc in self.procs:
            self.procs.remove(proc)


class Deployment:
    """SecondDesk as separate processes: gunicorn (2 gthread workers), a Celery worker (queues textback,default,
    threads pool), Celery beat, and the fake Twilio API (tests/fake_twilio.py run as a process), against the given
    Postgres database and Redis, with DEBUG=0 production-like settings (bench/textback_latency.py's base_env).
    Logs of each process go to files under log_dir (printed on failure). Its broker queues and cache keys carry a
    prefix of their own, so deployments sharing one Redis database never consume each other's tasks."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        log_dir: Path,
        carrier_delay_ms: float = 0,
        web_module: str = "secdesk.wsgi",
        worker_app: str = "secdesk",
        extra_env: dict | None = None,
    ):
        self.database_url = database_url
        self.redis_url = redis_url
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.carrier_delay_ms = carrier_delay_ms
        self.web_module = web_module
        self.worker_app = worker_app
        self.web_port, self.fake_port = free_port(), free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.fake_url = f"http://127.0.0.1:{self.fake_port}"
        self.key_prefix = f"rely-{os.getpid()}-{self.web_port}"
        self.env = base_env(SimpleNamespace(port=self.web_port, fake_port=self.fake_port))
        self.env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            CELERY_BROKER_KEY_PREFIX=f"{self.key_prefix}:",
            CACHE_KEY_PREFIX=self.key_prefix,
            # the connection pool as in production (pytest's own environment turns it off: secdesk.test_settings)
            DB_POOL="1",
            DB_POOL_MAX="4",  # 2 web workers + worker + beat stay far below max_connections when tests overlap
            LOG_LEVEL="INFO",
            API_THROTTLE_RATE="100000/min",
            **TEST_TIMINGS,
        )
        self.env.update(extra_env or {})
        self.stack = _LoggedStack()
        self.fake: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.business_id: int | None = None
        self._worker_runs = 0

    # --- setup ---------------------------------------------------------------------------------------------

    @staticmethod
    def manage(env: dict, *args: str) -> str:
        """Run manage.py with `env` (the deployment's own: `deployment.env`); its output, or AssertionError."""
        result = subprocess.run(
            [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def prepare(self) -> None:
        """Migrate the (existing, empty) database and seed one business "Rely Plumbing" open around the clock, with
        its own Twilio account, the number NUMBER in forwarded mode (every call is missed at once), an owner and an
        API key (API_KEY, for the REST API). Sets self.business_id.

        Migrating takes twenty seconds on a busy machine, so the first deployment migrates and seeds a template
        database named after a fingerprint of the migrations and the seed, and every deployment is a copy of it
        (CREATE DATABASE ... TEMPLATE, about a second). A changed migration makes a new template."""
        server_url, name = self.database_url.rsplit("/", 1)
        template = self._template(server_url)
        drop_database(self.database_url)
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(pgsql.Identifier(name), pgsql.Identifier(template))
            )
        [(self.business_id,)] = self.sql("SELECT id FROM tenants_business WHERE slug = %s", BUSINESS_SLUG)

    def _template(self, server_url: str) -> str:
        """The name of the migrated, seeded template database, creating it (once, under an advisory lock that
        parallel test processes share) when it does not exist yet."""
        fingerprint = hashlib.sha256(SEED.encode())
        for key in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY"):
            fingerprint.update(self.env.get(key, "").encode())
        for path in sorted(ROOT.glob("*/migrations/*.py")):
            fingerprint.update(path.name.encode() + path.read_bytes())
        template = f"rely_tpl_{fingerprint.hexdigest()[:16]}"
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext('secdesk reliability template'))")
            try:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone():
                    return template
                stale = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", ("rely\\_tpl\\_%",))
                for (old,) in stale.fetchall():  # templates of earlier migrations, or a half-built one
                    drop_database(f"{server_url}/{old}")
                building = f"{template}_building"
                url = scratch_database(server_url, building)
                env = {**self.env, "DATABASE_URL": url}
                self.manage(env, "migrate", "--no-input", "-v", "0")
                self.manage(env, "shell", "-c", SEED)
                conn.execute(
                    pgsql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        pgsql.Identifier(building), pgsql.Identifier(template)
                    )
                )
                return template
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('secdesk reliability template'))")

    # --- processes -----------------------------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, *, web: bool = True, worker: bool = True, beat: bool = True) -> None:
        """The fake carrier always (it outlives every other process), then what is asked for."""
        if self.fake is None or self.fake.poll() is not None:
            self.fake = self.stack.start(
                *fake_carrier_command(self.fake_port, self.carrier_delay_ms), env=self.env, log=self._log("fake_twilio")
            )
            wait_until(lambda: _answers(f"{self.fake_url}/_fake/requests"), timeout=30, what="the fake Twilio API")
        # Spawned together, then awaited: each needs seconds of Django start-up on a busy machine.
        waits = []
        if web:
            waits.append(self._spawn_web())
        if worker:
            waits.append(self._spawn_worker())
        if beat:
            self.start_beat()
        for wait in waits:
            wait()

    def start_worker(self, extra_env: dict | None = None) -> subprocess.Popen:
        """A Celery worker on both queues, threads pool, with `extra_env` on top of the deployment's environment
        (e.g. a fault to inject); returns once it is consuming (its "ready" log line)."""
        self._spawn_worker(extra_env)()
        return self.worker

    def _spawn_web(self) -> Callable[[], None]:
        self.web = self.stack.start(
            # Gunicorn's own access log (the production config's is JSON without the pid): the format below.
            *gunicorn_command(self.web_module, self.web_port, production_config=False),
            "--access-logfile",
            "-",
            "--access-logformat",
            '%(p)s "%(r)s" %(s)s',  # the worker pid: web_worker_pids() tells which worker served what
            env=self.env,
            log=self._log("web"),
        )
        # /healthz answers 503 while the worker is down (it checks a Celery round trip): any answer means serving.
        return lambda: wait_until(
            lambda: _answers(f"{self.web_url}/healthz"), timeout=90, what=f"gunicorn on {self.web_url}"
        )

    def _spawn_worker(self, extra_env: dict | None = None) -> Callable[[], None]:
        self._worker_runs += 1
        log = self._log(f"worker-{self._worker_runs}")
        proc = self.worker = self.stack.start(
            *celery_worker_command(self.worker_app, concurrency=WORKER_CONCURRENCY, loglevel="INFO"),
            "--hostname",
            f"rely{self._worker_runs}-{self.key_prefix}@%h",
            env={**self.env, **(extra_env or {})},
            log=log,
        )

        def wait() -> None:
            wait_until(
                lambda: proc.poll() is not None or " ready." in log.read_text(errors="replace"),
                timeout=90,
                what=f"the Celery worker to be ready (log {log})",
            )
            if proc.poll() is not None:
                raise AssertionError(f"the Celery worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")

        return wait

    def start_beat(self) -> subprocess.Popen:
        self.beat = self.stack.start(
            *celery_beat_command(self.log_dir / "beat-schedule", loglevel="INFO"),
            env=self.env,
            log=self._log("beat"),
        )
        return self.beat

    def stop_worker(self, sig: int = signal.SIGTERM) -> None:
        """Warm shutdown by default (the worker finishes the tasks it holds, then exits); SIGKILL kills it without
        letting it finish anything, as a crash or OOM would."""
        if self.worker is not None:
            self.stack.end(self.worker, sig)
            self.worker = None

    def stop(self) -> None:
        """Everything, always (use in a finally / fixture teardown)."""
        self.stack.stop()
        self.fake = self.web = self.worker = self.beat = None

    def worker_log(self) -> str:
        """Everything every Celery worker of this deployment logged so far (task outcomes are logged at INFO)."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))

    def logs(self, tail: int = 4000) -> str:
        """The end of every process's log, for a failure report."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace")
            parts.append(f"----- {path.name} (last {tail} characters) -----\n{text[-tail:]}")
        return "\n".join(parts)

    # --- traffic in ----------------------------------------------------------------------------------------

    def _post_signed(self, path: str, params: dict[str, str]) -> int:
        """POST like Twilio, signed over the public URL; the HTTP status, or 0 when the connection broke (a web
        process died mid-request)."""
        url = self.web_url + path
        try:
            return requests.post(
                url, data=params, headers={"X-Twilio-Signature": sign(url, params, AUTH_TOKEN)}, timeout=30
            ).status_code
        except requests.ConnectionError:
            return 0

    def missed_call(self, call_sid: str, caller: str) -> int:
        """The incoming-call webhook of a call to NUMBER (forwarded mode: the call is recorded as missed and its
        text-back queued in that request). Returns the HTTP status (0: connection broke)."""
        params = payload("voice_incoming", account_sid=ACCOUNT_SID, call_sid=call_sid, caller=caller, number=NUMBER)
        return self._post_signed("/webhooks/twilio/voice/", params)

    def inbound_sms(self, message_sid: str, caller: str, body: str) -> int:
        """An inbound text from `caller` to NUMBER, signed, through /webhooks/twilio/sms/."""
        params = payload(
            "sms_inbound", account_sid=ACCOUNT_SID, message_sid=message_sid, caller=caller, number=NUMBER, body=body
        )
        return self._post_signed("/webhooks/twilio/sms/", params)

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """A REST API call with the seeded API key; (status, JSON body)."""
        response = requests.request(
            method, self.web_url + path, json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        )
        return response.status_code, response.json() if response.content else {}

    # --- observations --------------------------------------------------------------------------------------

    def sql(self, query: str, *params) -> list[tuple]:
        """Run one statement straight against the deployment's database; the rows it returns (empty if none)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params or None)
            return cursor.fetchall() if cursor.description else []

    def carrier_requests(self) -> list[dict]:
        """Every message create the fake Twilio received, in arrival order; accepted ones carry a "sid"."""
        return requests.get(f"{self.fake_url}/_fake/requests", timeout=10).json()["requests"]

    def script_carrier(self, *behaviours) -> None:
        """Append behaviours to the fake's script, as FakeTwilio.then: "ok", ("error", status, code),
        ("hang", seconds), ("accept_then_hang", seconds)."""
        requests.post(f"{self.fake_url}/_fake/script", json={"behaviours": behaviours}, timeout=10).raise_for_status()

    def reset_carrier(self) -> None:
        """Forget everything the fake received and any behaviour still scripted."""
        requests.post(f"{self.fake_url}/_fake/reset", timeout=10).raise_for_status()

    def texts_by_recipient(self) -> Counter:
        """Texts the carrier accepted, per recipient number."""
        return Counter(r["To"] for r in self.carrier_requests() if r.get("sid"))

    def text_figures(self, recipients: list[str]) -> dict:
        """sent / lost / duplicated over `recipients` (each expected to get exactly one text), and how many message
        requests the carrier received in all (retries and resends included)."""
        requests_ = self.carrier_requests()
        texts = Counter(r["To"] for r in requests_ if r.get("sid"))
        return {
            "sent": sum(texts[r] for r in recipients),
            "lost": sum(1 for r in recipients if texts[r] == 0),
            "duplicated": sum(texts[r] - 1 for r in recipients if texts[r] > 1),
            "carrier_requests": len(requests_),
        }

    def web_worker_pids(self) -> dict[str, set[str]]:
        """For each request path in gunicorn's access log (in web.log, plain or JSON lines), the gunicorn worker
        pids that served it."""
        served: dict[str, set[str]] = {}
        for pid, path in ACCESS_LINE.findall(self._log("web").read_text(errors="replace")):
            served.setdefault(path, set()).add(pid)
        return served


ACCESS_LINE = re.compile(r'<(\d+)> \\?"[A-Z]+ (\S+) HTTP')


def _answers(url: str) -> bool:
    """Whether a server answers at `url` at all (any HTTP status)."""
    try:
        requests.get(url, timeout=5)
    except requests.RequestException:
        return False
    return True


def missed_calls(count: int, start: int = 0) -> list[tuple[str, str]]:
    """(CallSid, caller) pairs, each from a different caller (a repeat caller is deliberately not texted twice)."""
    return [(f"CA{start + i:032x}", f"+1415555{start + i:04d}") for i in range(count)]


def report(scenario: str, **figures) -> None:
    """The one line a reliability test prints with its figures (collected from the output by CI and by people)."""
    print("RELIABILITY", f"scenario={scenario}", " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def fire_concurrently(calls: list[Callable[[], object]], *, threads: int = 16) -> list[object]:
    """Run the callables at once from `threads` threads, starting together; their results in order."""
    results: list[object] = [None] * len(calls)
    barrier = threading.Barrier(min(threads, len(calls)))
    lock = threading.Lock()
    pending = list(enumerate(calls))

    def run() -> None:
        barrier.wait()
        while True:
            with lock:
                if not pending:
                    return
                index, call = pending.pop(0)
            results[index] = call()

    workers = [threading.Thread(target=run) for _ in range(min(threads, len(calls)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results
