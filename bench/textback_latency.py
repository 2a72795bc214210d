"""Text-back latency: missed-call webhook received -> carrier API request received, under a fixed arrival rate.

Starts its own gunicorn, Celery worker and beat, and a fake Twilio API (tests/fake_twilio.py) as separate
processes against a scratch database, fires signed missed-call webhooks (some CallSids replayed, as Twilio does),
and prints p50/p95/p99, lost and duplicated texts. Then runs the same load through a bare pipeline (a plain view
that inserts a row and pushes to Redis, and a plain consumer) and prints our figures as a ratio to it.

    .venv/bin/python bench/textback_latency.py --rate 50 --duration 60
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
DB = "secdesk_bench"
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "cd" * 16
NUMBER = "+14155238886"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def sh(*args: str, env: dict | None = None, check: bool = True) -> None:
    subprocess.run(args, cwd=ROOT, env=env, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.25)
    raise SystemExit(f"{url} did not come up")


class Stack:
    """A set of processes started together and stopped together."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, env: dict, log: Path | None = None) -> subprocess.Popen:
        """Start a process in its own session; its output goes to `log` when given (kept as evidence of errors
        under load), else nowhere."""
        out = log.open("ab") if log else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if log:
                out.close()
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def fake_carrier_command(port: int, delay_ms: float) -> list[str]:
    """The fake Twilio API as a process (tests/fake_twilio.py), answering after `delay_ms`."""
    return [PY, "-m", "tests.fake_twilio", "--port", str(port), "--delay-ms", str(delay_ms)]


def gunicorn_command(app: str, port: int, *, production_config: bool = True) -> list[str]:
    """gunicorn as every bench and the reliability suite run it: 2 gthread workers with 8 threads each, by default
    with the production config file too (its JSON logging and its start-up warming, secdesk.warmup)."""
    threads = ["--workers", "2", "--threads", "8", "--worker-class", "gthread"]
    config = ["--config", str(ROOT / "deploy" / "gunicorn.conf.py")] if production_config else []
    return [str(BIN / "gunicorn"), app, *config, "--bind", f"127.0.0.1:{port}", *threads]


def celery_worker_command(app: str = "secdesk", *, concurrency: int = 8, loglevel: str = "WARNING") -> list[str]:
    """The Celery worker as the Procfile runs it (both queues, a threads pool), without the cluster chatter a
    single worker does not need."""
    pool = ["--pool", "threads", "--concurrency", str(concurrency), "--loglevel", loglevel]
    quiet = ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    return [str(BIN / "celery"), "-A", app, "worker", "-Q", "textback,default", *pool, *quiet]


def celery_beat_command(schedule: Path | str, *, loglevel: str = "WARNING") -> list[str]:
    return [str(BIN / "celery"), "-A", "secdesk", "beat", "--loglevel", loglevel, "--schedule", str(schedule)]


def tenants(count: int) -> list[tuple[str, str, str]]:
    """(account SID, auth token, number) of each bench business: the first is the one this bench always used, the
    others each have their own subaccount, as an account belongs to one business."""
    extra = [(f"AC{i:032x}", f"{i:032x}", f"+1415524{i:04d}") for i in range(1, count)]
    return [(ACCOUNT_SID, AUTH_TOKEN, NUMBER), *extra]


def base_env(args, *, db: str = DB, redis_db: int = 3) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY="bench-secret-key-not-for-production",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{args.port}",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db}",
        REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}",
        TWILIO_API_BASE_URL=f"http://127.0.0.1:{args.fake_port}",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def prepare_database(env: dict, *, db: str = DB, redis_db: int = 3, businesses: int = 1) -> None:
    """A fresh database with `businesses` open-all-hours businesses (see tenants()), each with one forwarded-mode
    number, and an empty bench Redis database."""
    sh("dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", db)
    sh("createdb", "-h", "127.0.0.1", "-U", "postgres", db)
    sh(PY, "manage.py", "migrate", "--no-input", env=env)
    setup = f"""
import datetime as dt
from tenants.models import Business, BusinessHours
from telephony.models import CarrierCredential, PhoneNumber
for i, (account_sid, token, number) in enumerate({tenants(businesses)!r}):
    b = Business.objects.create(
        name="Bench Plumbing" + (f" {{i}}" if i else ""), slug="bench" + (f"-{{i}}" if i else ""),
        timezone="America/New_York",
    )
    BusinessHours.objects.bulk_create(
        BusinessHours(business=b, weekday=d, opens=dt.time(0), closes=dt.time(0)) for d in range(7)
    )
    c = CarrierCredential(business=b, provider="twilio", account_sid=account_sid)
    c.auth_token = token
    c.save()
    PhoneNumber.objects.create(business=b, e164=number, provider="twilio", mode="forwarded", voicemail_enabled=False)
"""
    sh(PY, "manage.py", "shell", "-c", setup, env=env)
    sh("redis-cli", "-n", str(redis_db), "FLUSHDB")


async def fire(args, url: str) -> tuple[list[dict], float]:
    """Constant arrival rate; a fraction of requests replay an earlier CallSid with identical parameters."""
    validator = RequestValidator(AUTH_TOKEN)
    total = int(args.rate * args.duration)
    sent: list[dict] = []
    rng = random.Random(7)
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int, params: dict, replay: bool) -> None:
            signature = validator.compute_signature(url, params)
            started = time.time()
            try:
                async with session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response:
                    await response.read()
                    status = response.status
            except Exception as exc:
                status = repr(exc)
            sent.append(
                {
                    "call_sid": params["CallSid"],
                    "caller": params["From"],
                    "sent_at": started,
                    "replay": replay,
                    "status": status,
                    "response_ms": (time.time() - started) * 1000,
                }
            )

        start = time.monotonic() + 0.5
        tasks, history = [], []
        for i in range(total):
            replay = bool(history) and rng.random() < args.replay_fraction
            if replay:
                params = rng.choice(history)
            else:
                params = {
                    "AccountSid": ACCOUNT_SID,
                    "ApiVersion": "2010-04-01",
                    "CallSid": f"CA{i:032x}",
                    "CallStatus": "ringing",
                    "Direction": "inbound",
                    "From": f"+1415{2000000 + i:07d}",
                    "To": NUMBER,
                    "Caller": f"+1415{2000000 + i:07d}",
                    "Called": NUMBER,
                    "StirVerstat": "TN-Validation-Passed-A",
                }
                history.append(params)
            delay = start + i / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, params, replay)))
        await asyncio.gather(*tasks)
        return sent, time.monotonic() - start


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants, from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pids.extend(int(c) for c in children)
    return total


def _postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine (the database shares the cores)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each process of the stack (with its children), named by its command, and of
    PostgreSQL: subtract two readings for the cost of what ran between them."""
    cpu = {" ".join([p.args[0].split("/")[-1], *p.args[1:5]]): _cpu(p.pid) for p in stack.procs}
    cpu["postgres (all backends)"] = _postgres_cpu()
    return cpu


def wait_until_idle(stack: Stack, *, timeout: float = 30.0) -> float:
    """Wait until the stack's processes have finished starting (each gunicorn worker warms itself up before it
    takes requests, the Celery worker before its first task): under 5% of a core over half a second. The load
    then measures serving, as in production where processes start long before the calls; returns the seconds
    waited. A stack that never goes quiet is measured anyway, after `timeout`."""
    started = time.monotonic()
    before = sum(_cpu(p.pid) for p in stack.procs)
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        now = sum(_cpu(p.pid) for p in stack.procs)
        if now - before < 0.025:
            break
        before = now
    return time.monotonic() - started


def fake_requests(args) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{args.fake_port}/_fake/requests", timeout=10) as response:
        return json.loads(response.read())["requests"]


def measure(args, label: str, env: dict, start_stack) -> dict:
    stack = Stack()
    try:
        stack.start(*fake_carrier_command(args.fake_port, args.carrier_delay_ms), env=env)
        wait_http(f"http://127.0.0.1:{args.fake_port}/_fake/requests")
        start_stack(stack, env)
        idle_after = wait_until_idle(stack)
        url = f"http://127.0.0.1:{args.port}/webhooks/twilio/voice/"
        cpu_before = cpu_seconds(stack)
        sent, elapsed = asyncio.run(fire(args, url))
        cpu = {name: round(seconds - cpu_before[name], 1) for name, seconds in cpu_seconds(stack).items()}
        unique = {s["call_sid"]: s for s in sorted(sent, key=lambda s: s["sent_at"], reverse=True)}
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < args.drain_timeout:
            received = fake_requests(args)
            if len({r["To"] for r in received}) >= len(unique):
                break
            time.sleep(0.5)
        time.sleep(2)  # late duplicates would land now
        received = fake_requests(args)
        drain = time.monotonic() - drain_started
    finally:
        stack.stop()
    first_by_caller: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in received:
        counts[r["To"]] = counts.get(r["To"], 0) + 1
        first_by_caller[r["To"]] = min(first_by_caller.get(r["To"], r["received_at"]), r["received_at"])
    latencies = [
        (first_by_caller[s["caller"]] - s["sent_at"]) * 1000 for s in unique.values() if s["caller"] in first_by_caller
    ]
    errors = [s for s in sent if s["status"] != 200]
    result = {
        "label": label,
        "webhooks": len(sent),
        "unique_calls": len(unique),
        "achieved_rate": round(len(sent) / elapsed, 1),
        "errors": len(errors),
        "webhook_p50_ms": round(pct([s["response_ms"] for s in sent], 50), 1),
        "webhook_p99_ms": round(pct([s["response_ms"] for s in sent], 99), 1),
        "textback_p50_ms": round(pct(latencies, 50), 1),
        "textback_p95_ms": round(pct(latencies, 95), 1),
        "textback_p99_ms": round(pct(latencies, 99), 1),
        "textback_mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "lost": len(unique) - len(first_by_caller),
        "duplicated": sum(c - 1 for c in counts.values()),
        "drain_s": round(drain, 1),
        "idle_after_start_s": round(idle_after, 1),
        "cpu_seconds_during_load": cpu,
    }
    missing = [s for s in unique.values() if s["caller"] not in first_by_caller]
    if missing:
        result["lost_examples"] = missing[:5]
    print(json.dumps(result), flush=True)
    return result


def start_ours(args, log_dir: Path | None = None):
    """Our web, worker and beat processes; each one's output goes to a file in `log_dir` when given."""

    def log(name: str) -> Path | None:
        return log_dir / f"{name}.log" if log_dir else None

    def start(stack: Stack, env: dict) -> None:
        stack.start(*gunicorn_command("secdesk.wsgi", args.port), env=env, log=log("gunicorn"))
        stack.start(*celery_worker_command(), env=env, log=log("worker"))
        stack.start(*celery_beat_command(f"/tmp/secdesk-bench-beat-{os.getpid()}"), env=env, log=log("beat"))
        wait_http(f"http://127.0.0.1:{args.port}/healthz", timeout=60)

    return start


def start_bare(args):
    def start(stack: Stack, env: dict) -> None:
        from bench.bare_app import create_table

        create_table(f"postgresql://postgres@127.0.0.1:5432/{DB}")
        env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "bench.bare_app",
            "BARE_DB": DB,
            "BARE_ACCOUNT_SID": ACCOUNT_SID,
            "BARE_AUTH_TOKEN": AUTH_TOKEN,
        }
        stack.start(
            *gunicorn_command("django.core.wsgi:get_wsgi_application()", args.port, production_config=False), env=env
        )
        stack.start(PY, "-m", "bench.bare_app", "consume", env=env)  # one process, 8 threads, like our worker
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/", timeout=2)
            except urllib.error.HTTPError:
                return  # a 404 means it is serving
            except Exception:
                time.sleep(0.25)

    return start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="missed calls per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--replay-fraction", type=float, default=0.1, help="share of webhooks that are replays")
    parser.add_argument("--carrier-delay-ms", type=float, default=20.0, help="fake Twilio API response delay")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--fake-port", type=int, default=8765)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--skip-bare", action="store_true")
    args = parser.parse_args()

    env = base_env(args)
    print(
        f"# {args.rate}/s for {args.duration}s, {args.replay_fraction:.0%} replays, carrier delay "
        f"{args.carrier_delay_ms} ms, {os.cpu_count()} cores",
        flush=True,
    )
    prepare_database(env)
    ours = measure(args, "secdesk", env, start_ours(args))
    if args.skip_bare:
        return
    bare = measure(args, "bare", env, start_bare(args))
    ratio = {
        key: round(ours[key] / bare[key], 2) if bare[key] else None
        for key in ("textback_p50_ms", "textback_p95_ms", "textback_p99_ms", "webhook_p99_ms")
    }
    print(json.dumps({"ratio_secdesk_to_bare": ratio}), flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"textback_latency-{int(time.time())}.json").write_text(
        json.dumps({"args": vars(args), "secdesk": ours, "bare": bare, "ratio": ratio}, indent=2)
    )


if __name__ == "__main__":
    main()
