"""Redis stopped for 30 s under load (issue #10): the webhooks keep answering, and every text is sent, once, after
Redis returns.

Redis is only the doorbell: each missed call commits its text-back row whether or not the task can be enqueued, and
the outbound sweeper (beat) re-enqueues the rows whose task was lost once the broker is back. The private Redis has
no persistence, so it comes back empty: the queued tasks are gone too, and only the rows can bring the texts back.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.reliability.harness import BUSINESS_SLUG, report, wait_until
from tests.reliability.services import fire_at_rate, pct_ms, private_deployment, sweeps_done

RATE = 4.0  # webhooks a second, for the whole run
BEFORE, OUTAGE, AFTER = 5.0, 30.0, 5.0
EVERY_NTH_IS_A_REPLY = 5  # one webhook in five is a text from an earlier caller, the rest missed calls
SLOWEST_ANSWER = 5.0  # seconds; Twilio gives up after 15, and a webhook should never come near that


class Receiver(BaseHTTPRequestHandler):
    """The integrator's endpoint: records the event id of every delivery (signatures are tested elsewhere)."""

    events: list[str]

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.events.append(body["id"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    handler = type("Handler", (Receiver,), {"events": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler.events
    server.shutdown()
    server.server_close()


@pytest.fixture
def stack(request, tmp_path, receiver):
    """The deployment, with an integrator's webhook endpoint on its missed calls and texts: each webhook also
    rings the delivery task on commit."""
    url = f"http://127.0.0.1:{receiver[0].server_address[1]}/hook"
    with private_deployment(request, tmp_path, extra_env={"WEBHOOKS_ALLOW_PRIVATE": "1"}) as private:
        deployment = private.deployment
        deployment.manage(
            deployment.env,
            "shell",
            "-c",
            "from tenants.models import Business\n"
            "from integrations.services import endpoint_create\n"
            f"endpoint_create(business=Business.objects.get(slug='{BUSINESS_SLUG}'), kind='webhook', url='{url}', "
            "events=['call.missed', 'message.received'], actor=None)",
        )
        deployment.start()
        yield private


def test_redis_down_for_30_seconds_under_load(stack, receiver):
    deployment, redis_server = stack.deployment, stack.redis
    _, events = receiver
    total = int(RATE * (BEFORE + OUTAGE + AFTER))
    callers: dict[str, str] = {}  # CallSid -> caller
    replies: list[str] = []  # MessageSids of callers' texts
    actions = []
    for i in range(total):
        if i % EVERY_NTH_IS_A_REPLY == EVERY_NTH_IS_A_REPLY - 1:
            caller, sid = f"+1415{3000000 + i - 1:07d}", f"SM{i:032x}"
            replies.append(sid)
            actions.append(lambda sid=sid, caller=caller: deployment.inbound_sms(sid, caller, "Thanks, are you close?"))
        else:
            caller, sid = f"+1415{3000000 + i:07d}", f"CA{i:032x}"
            callers[sid] = caller
            actions.append(lambda sid=sid, caller=caller: deployment.missed_call(sid, caller))

    outage: dict[str, float] = {}

    def take_redis_away() -> None:
        time.sleep(BEFORE)
        outage["down"] = time.monotonic()
        redis_server.stop()
        time.sleep(OUTAGE)
        redis_server.start()
        outage["up"] = time.monotonic()

    fault = threading.Thread(target=take_redis_away)
    fault.start()
    try:
        shots = fire_at_rate(actions, rate=RATE)
    finally:
        fault.join()

    before = [shot for shot in shots if shot.started < outage["down"]]
    during = [shot for shot in shots if outage["down"] <= shot.started < outage["up"]]
    after = [shot for shot in shots if shot.started >= outage["up"]]
    failed = [shot for shot in shots if shot.status != 200]
    unique_callers = set(callers.values())

    def undelivered() -> int:
        return deployment.sql("SELECT count(*) FROM integrations_webhookdelivery WHERE status <> 'delivered'")[0][0]

    recovery = deliveries_recovery = float("nan")
    try:
        wait_until(
            lambda: unique_callers <= set(deployment.texts_by_recipient()),
            timeout=120,
            what="a text to every caller after Redis returned",
        )
        recovery = time.monotonic() - outage["up"]
        wait_until(lambda: undelivered() == 0, timeout=120, what="every integrator webhook delivered")
        deliveries_recovery = time.monotonic() - outage["up"]
        # Late duplicates would come from a sweep re-enqueueing a row already sent: let two more sweeps run.
        sweeps = sweeps_done(deployment)
        wait_until(lambda: sweeps_done(deployment) >= sweeps + 2, timeout=60, what="two more outbound sweeps")
    finally:
        figures = deployment.text_figures(sorted(unique_callers))
        lost, duplicated = figures["lost"], figures["duplicated"]
        report(
            "redis_down_30s",
            webhooks=len(shots),
            during_outage=len(during),
            non_200=len(failed),
            answer_p50_ms=pct_ms(shots, 50),
            answer_p99_ms=pct_ms(shots, 99),
            before_answer_max_ms=pct_ms(before, 100),
            outage_answer_p50_ms=pct_ms(during, 50),
            outage_answer_max_ms=pct_ms(during, 100),
            after_answer_max_ms=pct_ms(after, 100),
            sent=figures["sent"],
            lost=lost,
            duplicated=duplicated,
            recovery_s=f"{recovery:.1f}",
            integrator_events=len(set(events)),
            integrator_redelivered=len(events) - len(set(events)),
            integrator_recovery_s=f"{deliveries_recovery:.1f}",
        )

    assert during, "no webhook arrived while Redis was down"
    assert failed == [], f"webhooks not answered 200: {failed[:5]}"
    # From the outage on (the first answers of a fresh deployment include its warm-up, which is not under test).
    slowest = max((shot for shot in shots if shot.started >= outage["down"]), key=lambda shot: shot.seconds)
    assert slowest.seconds < SLOWEST_ANSWER, (
        f"a webhook took {slowest.seconds:.1f} s to answer, {slowest.started - outage['down']:.1f} s after Redis "
        f"went down ({OUTAGE:.0f} s outage)"
    )
    assert (lost, duplicated) == (0, 0)
    # Every text the callers sent (most of them while Redis was down) is stored, as the 200 promised.
    stored = deployment.sql(
        "SELECT count(DISTINCT provider_message_id) FROM messaging_message WHERE direction = 'in' "
        "AND provider_message_id = ANY(%s)",
        replies,
    )
    assert stored == [(len(replies),)]
    # The rows agree with the carrier: every text-back sent, none waiting on a lost task.
    statuses = dict(deployment.sql("SELECT status, count(*) FROM messaging_message WHERE kind = 'textback' GROUP BY 1"))
    assert statuses == {"sent": len(unique_callers)}
    # The integrator heard about every missed call and every text, none lost to the outage (deliveries are at least
    # once: a receiver dedupes by event id).
    delivered = {str(event_id) for (event_id,) in deployment.sql("SELECT event_id FROM integrations_webhookdelivery")}
    assert len(delivered) == len(callers) + len(replies)
    assert set(events) == delivered
