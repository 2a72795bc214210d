"""STOP arriving while a hundred texts to that caller are queued: none of them is sent.

The texts are operator replies queued through the REST API (POST /api/v1/messages/, the same service as the inbox
composer), the STOP is a signed inbound SMS webhook. Real gunicorn, Celery worker and beat, PostgreSQL, Redis and
the fake Twilio API as separate processes (tests/reliability/harness.py).
"""

import datetime as dt
import time

from tests.reliability.harness import WORKER_CONCURRENCY, Deployment, fire_concurrently, report, wait_until

CALLER = "+14155550777"
QUEUED = 100
TIMEOUT = 90


def open_conversation(deployment: Deployment) -> int:
    """A missed call from CALLER, its text-back sent: the conversation the replies go to."""
    assert deployment.missed_call("CA" + "77" * 16, CALLER) == 200
    wait_until(lambda: deployment.texts_by_recipient()[CALLER] == 1, timeout=TIMEOUT, what="the text-back")
    [(conversation,)] = deployment.sql("SELECT conversation_id FROM messaging_message WHERE kind = 'textback'")
    return conversation


def queue_replies(deployment: Deployment, conversation: int) -> None:
    """QUEUED replies to CALLER through the REST API, eight at a time."""

    def reply(i: int) -> int:
        return deployment.api("POST", "/api/v1/messages/", {"conversation": conversation, "body": f"Update {i}"})[0]

    statuses = fire_concurrently([lambda i=i: reply(i) for i in range(QUEUED)], threads=8)
    assert statuses == [201] * QUEUED


def replies(deployment: Deployment) -> list[tuple]:
    """(body, status, error_code, error_message, sending_at) of every reply."""
    return deployment.sql(
        "SELECT body, status, error_code, error_message, sending_at FROM messaging_message WHERE kind = 'reply'"
    )


def reply_requests(deployment: Deployment) -> list[dict]:
    return [r for r in deployment.carrier_requests() if r["To"] == CALLER and r["Body"].startswith("Update ")]


def stop(deployment: Deployment) -> float:
    """The caller texts STOP; returns the wall-clock time the webhook answered (the opt-out had committed)."""
    assert deployment.inbound_sms("SM" + "51" * 16, CALLER, "STOP") == 200
    return time.time()


def test_stop_with_the_worker_down_sends_none_of_the_queued_texts(deploy):
    """The strict case: the worker is stopped, 100 replies are queued (their tasks wait in Redis), STOP arrives,
    the worker starts. The opt-out fails every queued reply in its own transaction, each with a reason the team
    can read; the worker then finds nothing to claim for all 100 tasks. The caller gets only the one confirmation."""
    deployment = deploy()
    deployment.start()
    conversation = open_conversation(deployment)
    deployment.stop_worker()
    queue_replies(deployment, conversation)
    stopped_at = stop(deployment)
    rows = replies(deployment)
    assert len(rows) == QUEUED
    assert {row[1:4] for row in rows} == {("failed", "opted_out", "Recipient opted out; not sent.")}

    deployment.start_worker()
    took = wait_until(
        lambda: deployment.worker_log().count("'nothing to claim'") >= QUEUED,
        timeout=TIMEOUT,
        what="the worker to have tried every queued task",
    )
    wait_until(
        lambda: any("unsubscribed" in r["Body"] for r in deployment.carrier_requests() if r.get("sid")),
        timeout=TIMEOUT,
        what="the opt-out confirmation",
    )
    after = [r for r in deployment.carrier_requests() if r["To"] == CALLER and r["received_at"] > stopped_at]
    report(
        "stop_worker_down",
        queued=QUEUED,
        sent=len(reply_requests(deployment)),
        not_sent_with_reason=sum(1 for row in replies(deployment) if row[2] == "opted_out"),
        confirmations=len(after),
        drain_s=round(took, 1),
    )
    assert reply_requests(deployment) == []
    assert {row[1:4] for row in replies(deployment)} == {("failed", "opted_out", "Recipient opted out; not sent.")}
    assert [r["Body"].split(":")[0] for r in after] == ["Rely Plumbing"]  # exactly one confirmation, nothing else


def test_stop_while_sending_slowly_stops_everything_not_yet_claimed(deploy):
    """The race: 100 replies queued, the worker sending them slowly (the carrier takes 500 ms each, four at a time),
    STOP arrives after ten have gone. Texts already claimed may finish (at most one per worker thread reaches the
    carrier after the opt-out committed); none that was still queued when STOP landed is ever sent."""
    deployment = deploy(carrier_delay_ms=500)
    deployment.start()
    conversation = open_conversation(deployment)
    deployment.stop_worker()
    queue_replies(deployment, conversation)
    deployment.start_worker()
    wait_until(lambda: len(reply_requests(deployment)) >= 10, timeout=TIMEOUT, what="ten replies at the carrier")
    stopped_at = stop(deployment)
    took = wait_until(
        lambda: not any(row[1] in ("queued", "sending", "unknown") for row in replies(deployment)),
        timeout=TIMEOUT,
        what="every reply settled",
    )
    wait_until(
        lambda: deployment.worker_log().count("'nothing to claim'") >= sum(1 for r in replies(deployment) if r[2]),
        timeout=TIMEOUT,
        what="the worker to have tried every stopped reply's task",
    )
    rows = replies(deployment)
    sent = [row for row in rows if row[1] == "sent"]
    stopped = [row for row in rows if row[1] == "failed"]
    stop_time = dt.datetime.fromtimestamp(stopped_at, dt.UTC)
    late = [r for r in reply_requests(deployment) if r["received_at"] > stopped_at]
    report(
        "stop_while_sending",
        queued=QUEUED,
        sent_before_stop=len(sent),
        not_sent_with_reason=len(stopped),
        requests_after_stop=len(late),
        settle_s=round(took, 1),
    )
    assert len(sent) + len(stopped) == QUEUED and len(stopped) > 0
    assert {row[2:4] for row in stopped} == {("opted_out", "Recipient opted out; not sent.")}
    # every reply that reached the carrier had been claimed before the opt-out answered
    assert all(row[4] is not None and row[4] < stop_time for row in sent)
    assert len(reply_requests(deployment)) == len(sent)  # stopped ones never reached the carrier
    sent_bodies = {row[0] for row in sent}
    assert all(r["Body"] in sent_bodies for r in late) and len(late) <= WORKER_CONCURRENCY
