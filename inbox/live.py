"""Live inbox pages: a cheap "has anything changed since?" check for htmx polling.

Every write an operator would see (a text in or out, a delivery status, a call, an intake form, an assignment,
a note) calls `touch` inside its transaction. On commit that stores a new version (a nanosecond timestamp) in
Redis under the business's key and the conversation's key. An open inbox page polls with the version it was
rendered at: the same version answers 204 with one Redis read and no database query beyond the session; a new
one re-renders the list or the thread. A lost Redis key (flush, eviction) reads as "changed", so pages refresh
once rather than go stale.
"""

import datetime as dt
import json
import logging
import time

from django.core.cache import cache
from django.db import transaction
from django.urls import reverse

logger = logging.getLogger(__name__)

# A page polls every 2 s; a key lives far longer than any poll interval but does not pile up forever.
_TTL_SECONDS = 7 * 24 * 3600


def _business_key(business_id: int) -> str:
    return f"inbox:v:b:{business_id}"


def _conversation_key(conversation_id: int) -> str:
    return f"inbox:v:c:{conversation_id}"


def touch(business_id: int, conversation_id: int | None = None) -> None:
    """Mark the business's inbox (and one conversation) as changed once the current transaction commits."""

    def bump() -> None:
        version = str(time.time_ns())
        values = {_business_key(business_id): version}
        if conversation_id is not None:
            values[_conversation_key(conversation_id)] = version
        try:
            cache.set_many(values, timeout=_TTL_SECONDS)
        except Exception:  # Redis is only a doorbell: a down cache must never fail a committed write
            logger.warning("could not mark inbox %s as changed", business_id, exc_info=True)

    transaction.on_commit(bump)


def version(*, business_id: int, conversation_id: int | None = None) -> str:
    """The current version of the business's inbox or of one conversation. A missing key is created, so every
    page rendered from now on carries the same version and the next change moves it."""
    key = _business_key(business_id) if conversation_id is None else _conversation_key(conversation_id)
    try:
        current = cache.get(key)
        if current is None:
            current = str(time.time_ns())
            if not cache.add(key, current, timeout=_TTL_SECONDS):  # another request created it first: use theirs
                current = cache.get(key) or current
    except Exception:  # Redis down: a fresh version each time, so pages refresh on every poll instead of failing
        logger.warning("could not read the inbox version", exc_info=True)
        current = str(time.time_ns())
    return current


def alerts_header(*, business, user, since: str) -> str:
    """The member's alerts (inbox.Notification rows) created after version `since`, as the JSON the page turns
    into browser notifications: at most five, newest first. Empty when `since` is not a version."""
    from inbox.models import Notification

    try:
        after = dt.datetime.fromtimestamp(int(since) / 1e9, tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    rows = (
        Notification.objects.filter(business=business, user=user, created_at__gt=after)
        .order_by("-created_at")
        .values("pk", "text", "conversation_id")[:5]
    )
    items = [
        {
            "id": row["pk"],
            "text": row["text"],
            "url": reverse("conversation", args=[business.slug, row["conversation_id"]])
            if row["conversation_id"]
            else "",
        }
        for row in rows
    ]
    # ASCII only: a header cannot carry raw Unicode, and json.dumps escapes it
    return json.dumps(items, ensure_ascii=True) if items else ""
