"""Thin tasks: load by id, call a service. All are safe to run twice."""

from celery import shared_task


@shared_task(name="integrations.tasks.deliver_webhook", ignore_result=True)
def deliver_webhook_task(delivery_id: int) -> str:
    """Post one webhook delivery if it is still pending and due (the claim makes duplicates harmless)."""
    from integrations.delivery import deliver

    return deliver(delivery_id=delivery_id)


@shared_task(name="integrations.tasks.sweep_webhooks", ignore_result=True)
def sweep_webhooks_task() -> dict:
    """Beat, every 5 s: re-ring lost or due deliveries, put back ones a dead worker held."""
    from integrations.delivery import sweep

    return sweep()


@shared_task(
    name="integrations.tasks.notify_owners",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=5,
)
def notify_owners_task(delivery_id: int) -> int:
    """Email the owners that a webhook delivery failed for good (retried on SMTP/network errors)."""
    from integrations.delivery import notify_owners

    return notify_owners(delivery_id=delivery_id)
