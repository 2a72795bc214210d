from celery import shared_task


@shared_task(name="secdesk.tasks.ping")
def ping(nonce: str) -> str:
    """Health round trip: a worker answers with the nonce it was given. Idempotent, no side effects."""
    return f"pong:{nonce}"
