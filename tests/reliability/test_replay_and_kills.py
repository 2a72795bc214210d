"""Replayed webhooks and killed processes: every missed call ends with exactly one text.

Real gunicorn, Celery worker and beat, PostgreSQL, Redis and the fake Twilio API as separate processes
(tests/reliability/harness.py); processes are SIGKILLed at the worst moments by tests/reliability/faults.py.
"""

import signal
import time
from functools import partial

import pytest

from tests.reliability.harness import Deployment, fire_concurrently, missed_calls, report, wait_until

RECOVERY_TIMEOUT = 60  # stuck threshold + reconcile + resend take seconds; a loaded 2-core machine gets slack


def settled(deployment: Deployment, expected: int) -> bool:
    """Every text-back is `sent` (so no worker can claim it again) and there are exactly `expected` of them."""
    rows = deployment.sql("SELECT status, count(*) FROM messaging_message WHERE kind = 'textback' GROUP BY status")
    return dict(rows) == {"sent": expected}


def test_voice_webhook_replayed_five_times_concurrently_texts_once(deploy):
    """Twilio may deliver the same webhook more than once, and gunicorn's two workers may each get a copy at the
    same moment: the unique CallSid and the call's row lock make one Call, one text-back row, one text."""
    deployment = deploy()
    deployment.start()
    pairs = missed_calls(20)
    started = time.monotonic()
    statuses = fire_concurrently(
        [partial(deployment.missed_call, sid, caller) for sid, caller in pairs for _ in range(5)], threads=20
    )
    assert statuses == [200] * 100
    took = wait_until(lambda: settled(deployment, 20), timeout=RECOVERY_TIMEOUT, what="20 text-backs sent")
    pids = deployment.web_worker_pids()["/webhooks/twilio/voice/"]
    result = deployment.text_figures([c for _, c in pairs])
    report("replay_x5", calls=20, webhooks=100, **result, web_workers=len(pids), settle_s=round(took, 1))
    assert deployment.sql("SELECT count(*) FROM telephony_call") == [(20,)]
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["carrier_requests"] == 20
    assert time.monotonic() - started < 120


def test_web_killed_after_commit_before_enqueue_is_swept(deploy, tmp_path):
    """The gunicorn worker dies after the missed call committed but before the task reached Redis: Twilio gets no
    answer, the row is all there is, and the sweeper sends it (once) within seconds."""
    deployment = deploy(
        web_module="tests.reliability.faults",
        extra_env={"RELY_FAULT": "kill_before_enqueue", "RELY_FAULT_ONCE": str(tmp_path / "fired")},
    )
    deployment.start()
    pairs = missed_calls(5)
    (first_sid, first_caller), *rest = pairs
    killed_at = time.monotonic()
    assert deployment.missed_call(first_sid, first_caller) == 0  # the process died before answering
    assert (tmp_path / "fired").exists()
    # committed before the process died (queued, unless a very slow machine let the sweeper get to it already)
    [(status,)] = deployment.sql("SELECT status FROM messaging_message WHERE to_number = %s", first_caller)
    assert status in ("queued", "sending", "sent")
    # gunicorn's master replaces the dead worker; the other calls go through normally
    statuses = [deployment.missed_call(sid, caller) for sid, caller in rest]
    wait_until(
        lambda: deployment.texts_by_recipient()[first_caller] == 1, timeout=RECOVERY_TIMEOUT, what="the swept text"
    )
    wait_until(lambda: settled(deployment, 5), timeout=RECOVERY_TIMEOUT, what="5 text-backs sent")
    result = deployment.text_figures([c for _, c in pairs])
    report("web_killed_before_enqueue", calls=5, **result, recovery_s=round(time.monotonic() - killed_at, 1))
    assert statuses == [200] * 4
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["carrier_requests"] == 5


# case: (carrier behaviour scripted for the first request, carrier requests beyond one per call)
WORKER_KILLS = {
    "kill_before_request": ([], 0),  # claimed, never asked the carrier: it must be sent after recovery
    "kill_during_request": ([("accept_then_hang", 30)], 0),  # the carrier has it: reconciled, not resent
    "kill_during_unaccepted_request": ([("hang", 30)], 1),  # the carrier never took it: sent again, once
    "kill_after_request": ([], 0),  # the carrier accepted; we died before recording it: reconciled
}


@pytest.mark.parametrize("case", list(WORKER_KILLS))
def test_worker_killed_around_the_carrier_request(deploy, tmp_path, case):
    """A worker SIGKILLed before, during or after the carrier request leaves a `sending` row nobody will finish.
    The sweeper turns it `unknown` once it is older than any live send can be, and reconciliation asks the carrier:
    found means sent (no second text); absent means it never left, so it is sent again, once. The other calls the
    dead worker held (prefetched or queued) are re-rung by the sweeper. Every call ends with exactly one text."""
    fault = case.replace("_unaccepted", "")
    script, extra_requests = WORKER_KILLS[case]
    deployment = deploy(worker_app="tests.reliability.faults")
    deployment.start(worker=False)
    deployment.script_carrier(*script)
    worker = deployment.start_worker(extra_env={"RELY_FAULT": fault, "RELY_FAULT_ONCE": str(tmp_path / "fired")})
    pairs = missed_calls(5)
    statuses = [deployment.missed_call(sid, caller) for sid, caller in pairs]
    wait_until(lambda: worker.poll() is not None, timeout=30, what="the faulty worker to die")
    killed_at = time.monotonic()
    deployment.stop_worker(signal.SIGKILL)  # reaps it
    deployment.start_worker()
    try:
        wait_until(lambda: settled(deployment, 5), timeout=RECOVERY_TIMEOUT, what="5 text-backs sent after the kill")
    finally:
        rows = dict(deployment.sql("SELECT status, count(*) FROM messaging_message GROUP BY status"))
        result = deployment.text_figures([c for _, c in pairs])
        report(case, calls=5, **result, recovery_s=round(time.monotonic() - killed_at, 1), rows=rows)
    assert statuses == [200] * 5
    assert result["lost"] == 0 and result["duplicated"] == 0
    # only a request the carrier never took is ever repeated
    assert result["carrier_requests"] == 5 + extra_requests
