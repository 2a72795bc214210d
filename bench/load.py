"""Load test: missed calls and inbound texts at a constant arrival rate, at 1x and 3x a stated peak.

The stated peak is 5 missed calls/s and 5 inbound texts/s (18,000 of each an hour), what one hosted box should
carry. It stands for about 2,000 small service businesses (plumbing, HVAC, electrical) all in their busiest hour
at once, as after a regional cold snap: such a business answers 60-70% of its calls and misses about 9 an hour at
that peak, and about as many caller texts come back, since most callers answer the text-back once or twice
(a reply, an address, a photo's caption) and some never do. 3x is the margin for a storm on top of a Monday.

Each phase starts a fresh database (`secdesk_bench_load`, with --businesses businesses of one number each) and a
fresh stack, as bench/textback_latency.py does: gunicorn, a Celery worker (queues textback and default), beat and
the fake Twilio API as processes, on their own ports and Redis database, so it runs beside the other benches.
Fresh per phase so each phase's queue drain and CPU belong to it alone, not to the previous phase's backlog.

Arrivals are open-loop: every webhook is sent at its time on the clock, never waiting for earlier answers, so a
slow server meets a growing queue (as with the carrier) instead of a politely slowing client. The two streams:
- missed calls: signed voice webhooks from new callers to a random business, 10% of them replays of an earlier
  CallSid with identical parameters, as Twilio retries;
- caller texts: signed SMS webhooks with unique MessageSids, each from a caller whose missed call was 5-120 s
  earlier, to the number they called; mostly ordinary replies, some with urgent words, about 1.5% STOP and 1%
  HELP (which are answered automatically), 10% replays of an earlier MessageSid. Texts start 5 s after calls,
  when there is someone to text back.

Reported per phase: webhook response p50/p99 per kind (from the scheduled send to the answer read; an answer
after 15 s, Twilio's limit, is a timeout), errors, text-back p50/p99 (voice webhook sent -> carrier request
received), the same for the automatic replies, lost and duplicated texts, queue drain time (last arrival -> every
queued text at the carrier, no `queued`/`sending` rows left and the Celery queues `textback` and `default` empty in
Redis), CPU seconds per process until the last webhook was answered and during the drain after it (and per
webhook, all of it), and the machine.

    .venv/bin/python bench/load.py                           # 1x then 3x, 300 s each (about 12 minutes)
    .venv/bin/python bench/load.py --duration 20 --multipliers 1   # a smoke run
"""

import argparse
import asyncio
import bisect
import json
import os
import platform
import random
import re
import sys
import time
from pathlib import Path

import aiohttp
import psycopg
import redis
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` importable when run as a script

from bench.textback_latency import (
    ROOT,
    Stack,
    base_env,
    cpu_seconds,
    fake_carrier_command,
    fake_requests,
    pct,
    prepare_database,
    start_ours,
    tenants,
    wait_http,
)

DB = "secdesk_bench_load"
REDIS_DB = 5  # 3 is textback_latency's, 4 inbox_scale's
QUEUES = ("textback", "default")
WEBHOOK_TIMEOUT_S = 15.0  # Twilio gives up on a webhook after 15 s and uses the fallback URL
TEXT_LAG_S = (5.0, 120.0)  # a caller texts between 5 s and 2 minutes after their missed call
HELP_SHARE, STOP_SHARE, URGENT_SHARE = 0.01, 0.015, 0.15
RECENT = 50  # a replay repeats one of the last this many webhooks of its kind, as a carrier retry would

PLAIN_BODIES = (
    "Hi, I just called about getting a quote for a new water heater",
    "Can someone come out tomorrow morning?",
    "What do you charge for a drain cleaning?",
    "Yes please call me back when you can",
    "Thanks! Is Thursday afternoon possible?",
    "The address is 1423 Elm St, apartment 2, gate code 4471",
    "Our AC is running but not blowing cold air. Not urgent, sometime this week is fine",
    "ok",
    "👍 thanks",
    "Do you service the 94110 area?",
    "Kitchen sink is draining really slowly and there's a smell coming from the disposal. I tried a plunger and "
    "some baking soda but it didn't help. We're home all day Friday if that works, otherwise any evening after 5.",
    "Sorry missed your text, I'm free now",
)
URGENT_BODIES = (
    "Emergency - a pipe burst in the basement, water everywhere",
    "Need someone ASAP, no heat and a baby at home",
    "urgent: sewage is backing up into the tub",
    "Es urgente, tengo una fuga de agua en la cocina",
)
HELP_BODIES = ("HELP", "help", "Info")
STOP_BODIES = ("STOP", "Stop", "stop.")


def machine() -> dict:
    """What the figures were measured on, and how busy it was at the start."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mem_kib = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE).group(1))
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "cores": os.cpu_count(),
        "cpu_model": model.group(1) if model else platform.processor(),
        "ram_gib": round(mem_kib / 1024**2, 1),
        "python": platform.python_version(),
        "postgres": postgres,
        "redis": redis.Redis(port=6379).info("server")["redis_version"],
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def schedule(args, multiplier: float, businesses: list[tuple[str, str, str]]) -> list[dict]:
    """Every webhook of a phase with its send time (seconds from the start), URL path, parameters and auth token,
    in time order. Seeded, so a phase sends the same traffic on every run."""
    rng = random.Random(10)
    call_rate, text_rate = args.peak_calls * multiplier, args.peak_texts * multiplier
    events: list[dict] = []
    calls: list[dict] = []  # first sends only, in time order: the callers who can text back
    for i in range(int(call_rate * args.duration)):
        at = i / call_rate
        if calls and rng.random() < args.replay_fraction:
            events.append({**rng.choice(calls[-RECENT:]), "at": at, "replay": True})
            continue
        account_sid, token, number = rng.choice(businesses)
        caller = f"+1415{2000000 + i:07d}"
        params = {
            "AccountSid": account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": f"CA{i:032x}",
            "CallStatus": "ringing",
            "Direction": "inbound",
            "From": caller,
            "To": number,
            "Caller": caller,
            "Called": number,
            "StirVerstat": "TN-Validation-Passed-A",
        }
        call = {"kind": "call", "key": params["CallSid"], "path": "voice/", "params": params, "token": token}
        calls.append({**call, "at": at})
        events.append({**call, "at": at, "replay": False})

    call_times = [c["at"] for c in calls]
    texts: list[dict] = []
    for j in range(int(text_rate * args.duration)):
        at = TEXT_LAG_S[0] + j / text_rate
        if texts and rng.random() < args.replay_fraction:
            events.append({**rng.choice(texts[-RECENT:]), "at": at, "replay": True})
            continue
        first = bisect.bisect_left(call_times, at - TEXT_LAG_S[1])
        last = bisect.bisect_right(call_times, at - TEXT_LAG_S[0])
        if first == last:
            continue  # nobody was texted back in the window (only at very low call rates)
        call = calls[rng.randrange(first, last)]
        draw = rng.random()
        if draw < HELP_SHARE:
            intent, body = "help", rng.choice(HELP_BODIES)
        elif draw < HELP_SHARE + STOP_SHARE:
            intent, body = "stop", rng.choice(STOP_BODIES)
        elif draw < HELP_SHARE + STOP_SHARE + URGENT_SHARE:
            intent, body = "urgent", rng.choice(URGENT_BODIES)
        else:
            intent, body = "plain", rng.choice(PLAIN_BODIES)
        sid = f"SM{j:032x}"
        params = {
            "AccountSid": call["params"]["AccountSid"],
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "From": call["params"]["From"],
            "To": call["params"]["To"],
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "FromCountry": "US",
            "ToCountry": "US",
        }
        text = {"kind": "text", "key": sid, "path": "sms/", "params": params, "token": call["token"], "intent": intent}
        texts.append({**text, "at": at})
        events.append({**text, "at": at, "replay": False})
    return sorted(events, key=lambda e: e["at"])


async def fire(args, events: list[dict]) -> tuple[list[dict], float]:
    """Send every event at its time, open-loop. Returns one record per webhook and the wall time of the last send."""
    base = f"http://127.0.0.1:{args.port}/webhooks/twilio/"
    validators: dict[str, RequestValidator] = {}
    records: list[dict] = []
    timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000), timeout=timeout) as session:

        async def one(event: dict, due: float) -> None:
            url = base + event["path"]
            validator = validators.setdefault(event["token"], RequestValidator(event["token"]))
            headers = {"X-Twilio-Signature": validator.compute_signature(url, event["params"])}
            sent_at = time.time()
            lag = time.monotonic() - due
            try:
                async with session.post(url, data=event["params"], headers=headers) as response:
                    await response.read()
                    status = response.status
            except TimeoutError:
                status = "timeout"
            except aiohttp.ClientError as exc:
                status = repr(exc)
            records.append(
                {
                    "kind": event["kind"],
                    "key": event["key"],
                    "intent": event.get("intent", ""),
                    "caller": event["params"]["From"],
                    "replay": event["replay"],
                    "sent_at": sent_at,
                    "schedule_lag_ms": lag * 1000,
                    "status": status,
                    "response_ms": (time.time() - sent_at) * 1000,
                }
            )

        start = time.monotonic() + 0.5
        tasks = []
        for event in events:
            due = start + event["at"]
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(event, due)))
        last_arrival = time.time()
        await asyncio.gather(*tasks)
    return records, last_arrival


def backlog(conn: psycopg.Connection, queues: redis.Redis) -> dict:
    """What is still waiting: outbound rows not yet at the carrier, and tasks in the Celery queues."""
    pending = conn.execute(
        "SELECT count(*) FROM messaging_message WHERE direction = 'out' AND status IN ('queued', 'sending')"
    ).fetchone()[0]
    return {"pending_rows": pending, **{f"llen_{q}": queues.llen(q) for q in QUEUES}}


def settle(args, conn: psycopg.Connection, queues: redis.Redis, last_arrival: float) -> tuple[float | None, dict]:
    """Seconds from the last arrival until nothing is left to send (None if --drain-timeout passed first). Two
    clean readings in a row, so a task that beat just enqueued, or a row between commit and enqueue, is not
    mistaken for an idle system."""
    clean_since = None
    while True:
        now = time.time()
        state = backlog(conn, queues)
        if not any(state.values()):
            if clean_since is not None:
                return round(clean_since - last_arrival, 1), state
            clean_since = now
        else:
            clean_since = None
        if now - last_arrival > args.drain_timeout:
            return None, state
        time.sleep(0.25)


def outbound_rows(conn: psycopg.Connection) -> list[dict]:
    rows = conn.execute(
        "SELECT idempotency_key, kind, status, provider_message_id, to_number, error_code, error_message "
        "FROM messaging_message WHERE direction = 'out'"
    ).fetchall()
    names = ("key", "kind", "status", "sid", "to", "error_code", "error_message")
    return [dict(zip(names, row, strict=True)) for row in rows]


def summarise(args, label: str, multiplier: float, records: list[dict], rows: list[dict], received: list[dict]) -> dict:
    """Join what was sent (webhooks), what the app stored (outbound rows) and what reached the carrier."""
    first_send: dict[str, float] = {}
    for r in sorted(records, key=lambda r: r["sent_at"]):
        first_send.setdefault(r["key"], r["sent_at"])
    calls = {r["key"] for r in records if r["kind"] == "call"}
    texts = {r["key"]: r for r in records if r["kind"] == "text" and not r["replay"]}
    at_carrier = {r["sid"]: r for r in received if r.get("sid")}
    row_by_sid = {row["sid"]: row for row in rows if row["sid"]}

    def source(row: dict) -> str:
        """The webhook a row answers: its key is `<rule>:<CallSid or MessageSid>`."""
        return (row["key"] or "").rpartition(":")[2]

    def latencies(kinds: tuple[str, ...]) -> list[float]:
        return [
            (at_carrier[row["sid"]]["received_at"] - first_send[source(row)]) * 1000
            for row in rows
            if row["kind"] in kinds and row["sid"] in at_carrier and source(row) in first_send
        ]

    textbacks = [row for row in rows if row["kind"] == "textback"]
    replies = [row for row in rows if row["kind"] in ("auto_help", "opt_out_confirm")]
    expected_replies = {k for k, t in texts.items() if t["intent"] == "help"}
    stopped: set[str] = set()
    for key, text in sorted(texts.items(), key=lambda kv: kv[1]["sent_at"]):
        if text["intent"] == "stop" and text["caller"] not in stopped:
            stopped.add(text["caller"])
            expected_replies.add(key)

    def not_at_carrier(kind_rows: list[dict]) -> list[dict]:
        """Rows that should have reached the carrier and did not: anything not failed on purpose."""
        return [row for row in kind_rows if row["sid"] not in at_carrier and row["status"] != "failed"]

    by_kind = {"call": [r for r in records if r["kind"] == "call"], "text": [r for r in records if r["kind"] == "text"]}
    result = {
        "label": label,
        "multiplier": multiplier,
        "calls_per_s": args.peak_calls * multiplier,
        "texts_per_s": args.peak_texts * multiplier,
        "duration_s": args.duration,
        "webhooks": {kind: len(rs) for kind, rs in by_kind.items()},
        "replays": {kind: sum(r["replay"] for r in rs) for kind, rs in by_kind.items()},
        "schedule_lag_p99_ms": round(pct([r["schedule_lag_ms"] for r in records], 99), 1),
    }
    for kind, rs in by_kind.items():
        times = [r["response_ms"] for r in rs]
        result[f"{kind}_webhook_p50_ms"] = round(pct(times, 50), 1)
        result[f"{kind}_webhook_p99_ms"] = round(pct(times, 99), 1)
        result[f"{kind}_webhook_max_ms"] = round(max(times), 1) if times else None
        errors: dict[str, int] = {}
        for r in rs:
            if r["status"] != 200:
                errors[str(r["status"])] = errors.get(str(r["status"]), 0) + 1
        result[f"{kind}_webhook_errors"] = errors
    textback_ms, reply_ms = latencies(("textback",)), latencies(("auto_help", "opt_out_confirm"))
    sent_to_carrier = len(received)
    result |= {
        "unique_calls": len(calls),
        "textback_rows": len(textbacks),
        "textbacks_at_carrier": sum(row["sid"] in at_carrier for row in textbacks),
        "textbacks_failed": sum(row["status"] == "failed" for row in textbacks),
        "textback_p50_ms": round(pct(textback_ms, 50), 1),
        "textback_p99_ms": round(pct(textback_ms, 99), 1),
        "textback_max_ms": round(max(textback_ms), 1) if textback_ms else None,
        "unique_texts": len(texts),
        "texts_by_intent": {
            i: sum(t["intent"] == i for t in texts.values()) for i in ("plain", "urgent", "help", "stop")
        },
        "auto_replies_expected": len(expected_replies),
        "auto_reply_rows": len(replies),
        "auto_replies_at_carrier": sum(row["sid"] in at_carrier for row in replies),
        "auto_reply_p50_ms": round(pct(reply_ms, 50), 1),
        "auto_reply_p99_ms": round(pct(reply_ms, 99), 1),
        # a call with no text-back row at all, or a row that neither reached the carrier nor failed
        "lost_textbacks": len(calls - {source(row) for row in textbacks}) + len(not_at_carrier(textbacks)),
        "lost_auto_replies": len(expected_replies - {source(row) for row in replies}) + len(not_at_carrier(replies)),
        # each row records the one carrier id it got: any other carrier request is a second send
        "duplicated": sent_to_carrier - sum(sid in row_by_sid for sid in at_carrier),
        "carrier_requests": sent_to_carrier,
        "other_outbound_rows": {
            kind: sum(row["kind"] == kind for row in rows)
            for kind in {row["kind"] for row in rows} - {"textback", "auto_help", "opt_out_confirm"}
        },
        "unknown_rows": sum(row["status"] == "unknown" for row in rows),
    }
    failures: dict[str, int] = {}
    for row in rows:
        if row["status"] == "failed":
            reason = f"{row['kind']}: {row['error_code']} {row['error_message']}".strip()
            failures[reason] = failures.get(reason, 0) + 1
    result["failed_rows_by_reason"] = failures
    lost = not_at_carrier(textbacks + replies)[:5]
    if lost:
        result["lost_examples"] = lost
    return result


def log_problems(log_dir: Path) -> dict[str, int]:
    """Lines with a traceback or an ERROR each process wrote: the evidence to read when a phase shows errors."""
    problem = re.compile(r"Traceback|\bERROR\b")
    return {
        log.stem: sum(bool(problem.search(line)) for line in log.read_text(errors="replace").splitlines())
        for log in sorted(log_dir.glob("*.log"))
    }


def phase(args, multiplier: float, out_dir: Path) -> dict:
    label = f"{multiplier:g}x"
    env = base_env(args, db=DB, redis_db=REDIS_DB)
    businesses = tenants(args.businesses)
    prepare_database(env, db=DB, redis_db=REDIS_DB, businesses=args.businesses)
    events = schedule(args, multiplier, businesses)
    log_dir = out_dir / label
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack()
    queues = redis.Redis(port=6379, db=REDIS_DB)
    try:
        stack.start(
            *fake_carrier_command(args.fake_port, args.carrier_delay_ms), env=env, log=log_dir / "fake_twilio.log"
        )
        wait_http(f"http://127.0.0.1:{args.fake_port}/_fake/requests")
        start_ours(args, log_dir)(stack, env)
        cpu_start = cpu_seconds(stack)
        records, last_arrival = asyncio.run(fire(args, events))
        cpu_answered = cpu_seconds(stack)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB}", autocommit=True) as conn:
            drain_s, left = settle(args, conn, queues, last_arrival)
            cpu_drained = cpu_seconds(stack)
            time.sleep(2)  # a late second send would reach the carrier now
            received = fake_requests(args)
            rows = outbound_rows(conn)
        exited = [" ".join(proc.args[:4]) for proc in stack.procs if proc.poll() is not None]
    finally:
        stack.stop()
    result = summarise(args, label, multiplier, records, rows, received)
    result["drain_s"] = drain_s
    if drain_s is None:
        result["left_after_drain_timeout"] = left
    # until the last webhook was answered, then until nothing was left to send
    result["cpu_seconds_load"] = {k: round(v - cpu_start[k], 1) for k, v in cpu_answered.items()}
    result["cpu_seconds_drain"] = {k: round(v - cpu_answered[k], 1) for k, v in cpu_drained.items()}
    result["cpu_ms_per_webhook"] = {
        k: round((v - cpu_start[k]) * 1000 / len(records), 1) for k, v in cpu_drained.items() if v > cpu_start[k]
    }
    result["log_problems"] = log_problems(log_dir)
    result["exited_during_phase"] = exited  # a process that died (or never started) makes every figure suspect
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of arrivals per phase")
    parser.add_argument("--peak-calls", type=float, default=5.0, help="missed calls per second at 1x")
    parser.add_argument("--peak-texts", type=float, default=5.0, help="inbound caller texts per second at 1x")
    parser.add_argument("--multipliers", default="1,3", help="phases, as multiples of the peak")
    parser.add_argument("--businesses", type=int, default=50, help="businesses (one number each) calls spread over")
    parser.add_argument("--replay-fraction", type=float, default=0.1, help="share of webhooks that are replays")
    parser.add_argument("--carrier-delay-ms", type=float, default=20.0, help="fake Twilio API response delay")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--fake-port", type=int, default=8865)
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="give up on the drain after this long")
    args = parser.parse_args()
    multipliers = [float(m) for m in args.multipliers.split(",")]

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = ROOT / "bench" / "results" / f"load-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    header = {
        "peak": {
            "calls_per_s": args.peak_calls,
            "texts_per_s": args.peak_texts,
            "stands_for": "about 2,000 small service businesses in their busiest hour at once, each missing about "
            "9 calls an hour and getting about as many caller texts back",
        },
        "phases": [f"{m:g}x for {args.duration:g} s, fresh database and stack" for m in multipliers],
        "machine": machine(),
        "args": vars(args),
    }
    print(json.dumps(header), flush=True)
    results = [phase(args, m, out_dir) for m in multipliers]
    (out_dir / "results.json").write_text(json.dumps({**header, "results": results}, indent=2))
    print(f"# saved to {out_dir.relative_to(ROOT)}; {DB} is kept for a look at the rows", flush=True)


if __name__ == "__main__":
    main()
