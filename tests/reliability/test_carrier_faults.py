"""The carrier misbehaving: 429s, 5xx and timeouts. Retries are bounded, failures are visible to the business (the
row and the REST API say what went wrong), and no caller gets the same text twice.

Real gunicorn, Celery worker and beat, PostgreSQL, Redis and the fake Twilio API as separate processes
(tests/reliability/harness.py); the fake is scripted over HTTP to answer each request as told.
"""

import time

from messaging.sending import MAX_ATTEMPTS
from tests.reliability.harness import Deployment, fire_concurrently, missed_calls, report, wait_until

TIMEOUT = 90  # backoff, the sweeper's grace and re-ring spacing add up to tens of seconds on a loaded machine


def textbacks(deployment: Deployment) -> dict[str, tuple]:
    """caller -> (status, attempts, error_code, error_message) of their text-back."""
    rows = deployment.sql(
        "SELECT to_number, status, attempts, error_code, error_message FROM messaging_message WHERE kind = 'textback'"
    )
    return {to: tuple(rest) for to, *rest in rows}


def all_in(deployment: Deployment, callers: list[str], statuses: set[str]) -> bool:
    rows = textbacks(deployment)
    return len(rows) == len(callers) and all(rows[c][0] in statuses for c in callers)


def test_429_and_5xx_are_retried_until_sent_without_duplicates(deploy):
    """Ten missed calls while the carrier answers the first twelve requests with 429 (code 20429), 500 and 503:
    every text is retried with backoff (re-rung by the sweeper, never a long Celery countdown) and each caller
    gets exactly one; nothing needed more than MAX_ATTEMPTS requests."""
    deployment = deploy()
    deployment.start()
    errors = [("error", 429, 20429), ("error", 500, 20500), ("error", 503, 20503)] * 4
    deployment.script_carrier(*errors)
    pairs = missed_calls(10)
    callers = [c for _, c in pairs]
    started = time.monotonic()
    statuses = fire_concurrently([lambda sid=sid, c=c: deployment.missed_call(sid, c) for sid, c in pairs])
    try:
        wait_until(lambda: all_in(deployment, callers, {"sent"}), timeout=TIMEOUT, what="10 texts sent")
    finally:
        result = deployment.text_figures(callers)
        attempts = [row[1] for row in textbacks(deployment).values()]
        report(
            "carrier_429_5xx",
            calls=10,
            **result,
            refused=len(errors),
            max_attempts=max(attempts, default=0),
            recovery_s=round(time.monotonic() - started, 1),
        )
    assert statuses == [200] * 10
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["carrier_requests"] == 10 + len(errors) == sum(attempts)
    assert max(attempts) <= MAX_ATTEMPTS


def test_failures_are_bounded_and_visible(deploy):
    """A carrier that keeps answering 500 gets exactly MAX_ATTEMPTS requests, each retry visible on the row while it
    waits, and the text ends `failed` with a reason the owner can read (also through the REST API); a permanent
    refusal (21211, not a valid number) is not retried at all."""
    deployment = deploy()
    deployment.start()
    (sid, caller), (sid2, caller2) = missed_calls(2)

    deployment.script_carrier(*[("error", 500, 20500)] * (MAX_ATTEMPTS + 3))
    started = time.monotonic()
    assert deployment.missed_call(sid, caller) == 200
    wait_until(lambda: textbacks(deployment)[caller][3].startswith("Retrying"), timeout=TIMEOUT, what="a visible retry")
    wait_until(lambda: all_in(deployment, [caller], {"failed"}), timeout=TIMEOUT, what="the text to give up")
    gave_up = time.monotonic() - started
    refused = deployment.carrier_requests()
    deployment.reset_carrier()  # the leftover 500s must not meet the next text

    deployment.script_carrier(("error", 400, 21211))
    assert deployment.missed_call(sid2, caller2) == 200
    wait_until(lambda: all_in(deployment, [caller, caller2], {"failed"}), timeout=TIMEOUT, what="the refusal")
    status, body = deployment.api("GET", "/api/v1/messages/?status=failed")

    rows = textbacks(deployment)
    requests = deployment.carrier_requests()
    report(
        "carrier_errors_bounded",
        calls=2,
        failed_visible=sum(1 for m in body.get("results", []) if m["status"] == "failed" and m["error_message"]),
        carrier_requests=len(refused) + len(requests),
        attempts_5xx=rows[caller][1],
        attempts_permanent=rows[caller2][1],
        give_up_s=round(gave_up, 1),
    )
    assert len(refused) == MAX_ATTEMPTS and {r["To"] for r in refused} == {caller}
    assert rows[caller][:3] == ("failed", MAX_ATTEMPTS, "exhausted")
    assert "stopped retrying" in rows[caller][3]
    assert rows[caller2][:3] == ("failed", 1, "21211")
    assert rows[caller2][3] == "This is not a valid phone number."
    assert requests and all("sid" not in r for r in requests)  # nothing was ever accepted
    assert [r["To"] for r in requests] == [caller2]  # only the refusal since the reset: no late retry of the first
    assert status == 200
    assert {(m["to_number"], m["status"], m["error_code"]) for m in body["results"]} == {
        (caller, "failed", "exhausted"),
        (caller2, "failed", "21211"),
    }
    assert all(m["error_message"] for m in body["results"])


def test_timeouts_are_reconciled_not_resent(deploy):
    """Six texts whose requests time out (read timeout 2 s): three the carrier accepted but answered too late, three
    it never took. Each becomes `unknown`; reconciliation finds the accepted ones (no second request) and sends
    the never-taken ones again, once. Every caller ends with exactly one text."""
    deployment = deploy()
    deployment.start()
    deployment.script_carrier(*[("accept_then_hang", 5)] * 3, *[("hang", 5)] * 3)
    pairs = missed_calls(6)
    callers = [c for _, c in pairs]
    started = time.monotonic()
    statuses = fire_concurrently([lambda sid=sid, c=c: deployment.missed_call(sid, c) for sid, c in pairs])
    try:
        wait_until(lambda: all_in(deployment, callers, {"sent"}), timeout=TIMEOUT, what="6 texts settled")
    finally:
        result = deployment.text_figures(callers)
        report("carrier_timeouts", calls=6, **result, recovery_s=round(time.monotonic() - started, 1))
    assert statuses == [200] * 6
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["carrier_requests"] == 6 + 3  # only the three the carrier never took were sent again
