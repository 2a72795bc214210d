"""Thin Celery tasks for compliance: each calls one service and holds no logic of its own."""

from celery import shared_task


# A first purge of a large tenant can take a while; each batch commits on its own, so a run cut short by the time
# limit keeps its progress and the next run carries on.
@shared_task(name="compliance.tasks.purge_expired", ignore_result=True, time_limit=1800, soft_time_limit=1750)
def purge_expired_task() -> dict:
    """Beat, daily: blank message text/media and recording links older than each business's retention period.
    Idempotent and safe to run twice at once (batches with SKIP LOCKED); see compliance.privacy.purge_expired."""
    from compliance.privacy import purge_expired

    return purge_expired()
