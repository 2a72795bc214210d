"""Thin tasks: load by id (or sweep), call a service. All are safe to run twice."""

from celery import shared_task


@shared_task(name="inbox.tasks.send_notifications", ignore_result=True)
def send_notifications_task() -> dict:
    """Beat, every 5 s: send each member's due alerts as one email and one text (SKIP LOCKED: overlapping runs
    split the members, never send a row twice)."""
    from inbox.notifications import sweep_notifications

    return sweep_notifications()


@shared_task(name="inbox.tasks.wake_snoozed", ignore_result=True)
def wake_snoozed_task() -> int:
    """Beat, every 30 s: snoozed conversations whose time came back into the inbox as open (SKIP LOCKED)."""
    from inbox.actions import wake_snoozed

    return wake_snoozed()


@shared_task(name="inbox.tasks.sweep_timers", ignore_result=True)
def sweep_timers_task() -> dict:
    """Beat, every 5 s: fire due escalation, answer-time and follow-up timers, each exactly once."""
    from inbox.timers import sweep_timers

    return sweep_timers()
