from celery import shared_task


@shared_task(name="messaging.tasks.send_message", ignore_result=True)
def send_message_task(message_id: int) -> None:
    """Load by id, send. Safe to run twice: sending claims the row first (see messaging.sending)."""
    from messaging.sending import send_message

    send_message(message_id=message_id)
