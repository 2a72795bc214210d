"""Timers: rows with a due time, fired by the sweeper exactly once.

A timer is scheduled and cancelled inside the transaction of whatever causes or moots it (a text arriving, a
reply, an acknowledgement), with the conversation locked. The sweeper (beat, every 5 s) fires each due timer in a
transaction of its own that takes the locks in the global order (contact, then conversation, then the timer) with
SKIP LOCKED on the contact: a conversation someone is working on right now is left for the next sweep, so the
sweeper never waits on people and never deadlocks with them. Inside, the timer is re-read: one already fired or
cancelled (by a reply that committed first, or by another sweeper) does nothing. So a reply racing a due timer
ends with exactly one of the two outcomes, and two sweepers never fire a timer twice.
"""

import datetime as dt
import logging
from collections.abc import Callable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inbox.models import Contact, Conversation, Timer
from secdesk.orm import upsert

logger = logging.getLogger(__name__)

PENDING = Q(fired_at__isnull=True, cancelled_at__isnull=True)
SWEEP_BATCH = 200

# kind -> handler(timer, conversation, now), run inside the firing transaction with the conversation locked.
_HANDLERS: dict[str, Callable[[Timer, Conversation, dt.datetime], None]] = {}


def _load_handlers() -> None:
    """Import the modules whose @handles functions act on timers (they import this module, so not at the top)."""
    import inbox.escalation
    import inbox.sla  # noqa: F401


def handles(kind: str):
    """Register the function that acts when a timer of `kind` fires."""

    def register(func):
        _HANDLERS[kind] = func
        return func

    return register


def timer_schedule(*, conversation: Conversation, kind: str, due_at: dt.datetime, escalation=None) -> Timer:
    """Set the conversation's pending timer of `kind` to `due_at` (creating it, or moving the pending one: there is
    at most one per kind), in one statement on the partial unique index of pending timers. Run with the
    conversation locked."""
    timer, _ = upsert(
        Timer(
            business_id=conversation.business_id,
            conversation=conversation,
            kind=kind,
            due_at=due_at,
            escalation=escalation,
        ),
        conflict=["conversation", "kind"],
        where="fired_at IS NULL AND cancelled_at IS NULL",  # the constraint timer_one_pending_per_kind
        update=["due_at", "escalation"],
    )
    return timer


def timer_cancel(*, conversation: Conversation, kinds: list[str] | tuple[str, ...], reason: str) -> int:
    """Cancel the conversation's pending timers of these kinds. Run with the conversation locked (the sweeper
    takes that lock before it fires one), so a timer cancelled here can never fire afterwards."""
    return Timer.objects.filter(PENDING, conversation=conversation, kind__in=kinds).update(
        cancelled_at=timezone.now(), cancel_reason=reason[:60]
    )


def timer_fire(timer_id: int, *, now: dt.datetime | None = None) -> str:
    """Fire one timer if it is still pending and due. Returns what happened ("fired", "busy", "done",
    "not due")."""
    now = now or timezone.now()
    row = Timer.objects.filter(pk=timer_id).values("conversation_id", "conversation__contact_id").first()
    if row is None:
        return "done"
    with transaction.atomic():
        contact = Contact.objects.select_for_update(skip_locked=True).filter(pk=row["conversation__contact_id"]).first()
        if contact is None:
            return "busy"  # someone is working on this caller right now: next sweep
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("business", "contact")
            .get(pk=row["conversation_id"])
        )
        timer = Timer.objects.select_for_update().filter(PENDING, pk=timer_id).first()
        if timer is None:
            return "done"  # fired by another sweeper or cancelled by a reply that committed first
        if timer.due_at > now:
            return "not due"  # moved later meanwhile
        timer.fired_at = now
        timer.save(update_fields=["fired_at"])
        handler = _HANDLERS.get(timer.kind)
        if handler is None:
            logger.error("no handler for timer kind %r (timer %s)", timer.kind, timer.pk)
            return "fired"
        handler(timer, conversation, now)
    return "fired"


def sweep_timers(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Fire every due timer (beat, every 5 s). Reads due ids without locking, then fires each in its own
    transaction (timer_fire), so one slow or failing handler delays nothing else."""
    _load_handlers()
    now = now or timezone.now()
    counts: dict[str, int] = {}
    due = list(
        Timer.objects.filter(PENDING, due_at__lte=now).order_by("due_at").values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for timer_id in due:
        try:
            outcome = timer_fire(timer_id, now=now)
        except Exception:
            logger.exception("timer %s failed; it stays due and is retried next sweep", timer_id)
            outcome = "error"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
