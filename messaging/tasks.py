"""Thin tasks: load by id, call a service. All are safe to run twice."""

from celery import shared_task


@shared_task(name="messaging.tasks.send_message", ignore_result=True)
def send_message_task(message_id: int) -> str:
    """Send one message if it is still queued and due (the claim makes duplicates harmless)."""
    from messaging.sending import send_message

    return send_message(message_id=message_id)


@shared_task(name="messaging.tasks.reconcile_message", ignore_result=True)
def reconcile_message_task(message_id: int) -> str:
    """Settle a message whose send outcome is unknown, without resending blindly."""
    from messaging.sending import reconcile_message

    return reconcile_message(message_id=message_id)


@shared_task(name="messaging.tasks.sweep_outbound", ignore_result=True)
def sweep_outbound_task() -> dict:
    """Beat, every 2 s: re-enqueue lost sends, flag stuck ones, reconcile unknown ones."""
    from messaging.sending import sweep_outbound

    return sweep_outbound()


@shared_task(name="messaging.tasks.fetch_media", ignore_result=True)
def fetch_media_task(message_id: int) -> None:
    """Download an inbound MMS's media into our storage (carrier URLs need credentials and may expire). One try:
    what the carrier did not give is fetched again by the media sweeper."""
    from messaging.media import fetch_media

    fetch_media(message_id=message_id)


@shared_task(name="messaging.tasks.sweep_media", ignore_result=True)
def sweep_media_task() -> dict:
    """Beat, every minute: re-ring media fetches that were lost or failed, and give up on day-old ones."""
    from messaging.media import sweep_media

    return sweep_media()
