"""Redis flushed with escalation timers pending (issue #10): each timer fires exactly once.

Urgent conversations start their escalation chains through the real paths (a missed call, then the caller's
"emergency" text): the on-call member is paged at once and an `escalate` Timer row waits for an acknowledgement. The
private Redis is then flushed, taking every queued task (page sends, sweeps) and every broker key with it. Timers are
rows, not Celery countdowns, so the beat sweeper must still fire each one once: the backup is paged exactly once per
conversation, the on-call member is not paged again, and the pages that were waiting in the flushed queue still go.
"""

import time

import pytest

from tests.reliability.harness import BUSINESS_SLUG, report, wait_until
from tests.reliability.services import fire_at_rate, private_deployment, sweeps_done

CONVERSATIONS = 6
ON_CALL_PHONE, BACKUP_PHONE, OWNER_PHONE = "+14155550101", "+14155550102", "+14155550103"
DUE_IN_SECONDS = 3  # the pending timers fall due this long after the flush

SEED = f"""
from tenants.models import Business, Membership, User
from inbox.on_call import paging_update, rotation_add
b = Business.objects.get(slug="{BUSINESS_SLUG}")
owner = Membership.objects.get(business=b, role="owner").user
owner.phone = "{OWNER_PHONE}"
owner.save(update_fields=["phone"])
on_call = User.objects.create_user(email="oncall@rely.test", password=None, phone="{ON_CALL_PHONE}")
backup = User.objects.create_user(email="backup@rely.test", password=None, phone="{BACKUP_PHONE}")
for user in (on_call, backup):
    Membership.objects.create(business=b, user=user, role="operator")
rotation_add(business=b, user=on_call, actor=owner)
paging_update(business=b, actor=owner, paging_enabled=True, ack_minutes=30, backup=backup, rotation_start=None,
              handover_weekday=0, handover_hour=8)
"""


@pytest.fixture
def stack(request, tmp_path):
    with private_deployment(request, tmp_path) as private:
        deployment = private.deployment
        deployment.manage(deployment.env, "shell", "-c", SEED)
        deployment.start()
        yield private


def test_escalation_timers_fire_once_after_redis_is_flushed(stack):
    deployment, redis_server = stack.deployment, stack.redis
    callers = [f"+1415{7000000 + i:07d}" for i in range(CONVERSATIONS)]
    calls = fire_at_rate(
        [lambda i=i, c=c: deployment.missed_call(f"CA{i:032x}", c) for i, c in enumerate(callers)], rate=50
    )
    # No worker while the conversations turn urgent: the first pages' send tasks wait in Redis, so the flush takes
    # them for certain (and the outbound sweeper must find the rows).
    deployment.stop_worker()
    texts = fire_at_rate(
        [
            lambda i=i, c=c: deployment.inbound_sms(f"SM{i:032x}", c, "EMERGENCY pipe burst, water everywhere")
            for i, c in enumerate(callers)
        ],
        rate=50,
    )
    assert [s.status for s in calls + texts] == [200] * 2 * CONVERSATIONS

    def pending_escalate_timers() -> list[tuple]:
        return deployment.sql(
            "SELECT id FROM inbox_timer WHERE kind = 'escalate' AND fired_at IS NULL AND cancelled_at IS NULL"
        )

    assert len(pending_escalate_timers()) == CONVERSATIONS
    # Due in a few seconds rather than in ack_minutes; moved before the flush, so they are pending when it happens.
    first_timers = {
        timer_id
        for (timer_id,) in deployment.sql(
            "UPDATE inbox_timer SET due_at = now() + %s::interval WHERE kind = 'escalate' "
            "AND fired_at IS NULL AND cancelled_at IS NULL RETURNING id",
            f"{DUE_IN_SECONDS} seconds",
        )
    }
    with redis_server.client() as client:
        keys_flushed = client.dbsize()
    redis_server.flush()
    flushed_at = time.monotonic()
    deployment.start_worker()
    flushed_at_sweeps = sweeps_done(deployment, "inbox.tasks.sweep_timers")

    def pages_to(phone: str) -> int:
        return sum(1 for r in deployment.carrier_requests() if r["To"] == phone and "URGENT" in r.get("Body", ""))

    def fired() -> int:
        return deployment.sql(
            "SELECT count(*) FROM inbox_timer WHERE id = ANY(%s) AND fired_at IS NOT NULL", list(first_timers)
        )[0][0]

    all_paged = float("nan")
    try:
        wait_until(
            lambda: fired() == CONVERSATIONS and pages_to(BACKUP_PHONE) >= CONVERSATIONS,
            timeout=90,
            what="every pending escalation timer to fire and page the backup",
        )
        all_paged = time.monotonic() - flushed_at
        # Two more timer sweeps and outbound sweeps after that: a second firing or a resent page would show now.
        timer_sweeps, outbound_sweeps = sweeps_done(deployment, "inbox.tasks.sweep_timers"), sweeps_done(deployment)
        wait_until(
            lambda: (
                sweeps_done(deployment, "inbox.tasks.sweep_timers") >= timer_sweeps + 2
                and sweeps_done(deployment) >= outbound_sweeps + 2
            ),
            timeout=60,
            what="two more timer and outbound sweeps",
        )
    finally:
        on_call_pages, backup_pages = pages_to(ON_CALL_PHONE), pages_to(BACKUP_PHONE)
        page_rows = deployment.sql("SELECT step, count(*) FROM inbox_page GROUP BY step ORDER BY step")
        report(
            "redis_flush_timers",
            conversations=CONVERSATIONS,
            timers_pending_at_flush=len(first_timers),
            redis_keys_flushed=keys_flushed,
            timers_fired=fired(),
            pages_on_call=on_call_pages,
            pages_backup=backup_pages,
            page_rows_by_step=page_rows,
            sent=on_call_pages + backup_pages,
            lost=max(0, CONVERSATIONS - on_call_pages) + max(0, CONVERSATIONS - backup_pages),
            duplicated=max(0, on_call_pages - CONVERSATIONS) + max(0, backup_pages - CONVERSATIONS),
            timers_due_after_flush_s=DUE_IN_SECONDS,
            backup_paged_after_flush_s=f"{all_paged:.1f}",
            timer_sweeps_since_flush=sweeps_done(deployment, "inbox.tasks.sweep_timers") - flushed_at_sweeps,
        )

    # Each conversation: the on-call member paged once (step 0, queued before the flush), the timer fired once,
    # the backup paged once (step 1); the backup's own timer is pending, a minute away.
    assert keys_flushed > 0
    assert fired() == CONVERSATIONS  # no timer fired during the two extra sweeps either
    assert (on_call_pages, backup_pages) == (CONVERSATIONS, CONVERSATIONS)
    assert page_rows == [(0, CONVERSATIONS), (1, CONVERSATIONS)]
    assert deployment.sql(
        "SELECT e.step, count(*) FROM inbox_escalation e WHERE e.outcome = 'running' GROUP BY e.step"
    ) == [(1, CONVERSATIONS)]
    assert len(pending_escalate_timers()) == CONVERSATIONS
    assert not set(pending_escalate_timers()) & {(t,) for t in first_timers}
    # Every page text is a row that was sent once: none left waiting, none sent twice.
    assert deployment.sql(
        "SELECT m.status, count(*) FROM inbox_page p JOIN messaging_message m ON m.id = p.message_id GROUP BY 1"
    ) == [("sent", 2 * CONVERSATIONS)]
