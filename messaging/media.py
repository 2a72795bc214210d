"""Inbound MMS media: carrier URLs need the account's credentials and may expire, so we keep our own copy."""

import copy
import datetime as dt
import logging
import mimetypes
from contextlib import contextmanager
from functools import partial
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from messaging.models import Message
from messaging.sending import credentials_for

logger = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 5 * 1024 * 1024
ALLOWED_TYPES = ("image/", "video/", "audio/", "application/pdf", "text/vcard", "text/x-vcard")


def _allowed_url(url: str) -> bool:
    """Only fetch from the carrier's API host: a forged MediaUrl must not make us fetch internal addresses."""
    allowed = {urlsplit(settings.TWILIO_API_BASE_URL).netloc, "api.twilio.com"}
    parts = urlsplit(url)
    return (
        parts.scheme in ("https", "http")
        and parts.netloc in allowed
        and (parts.scheme == "https" or url.startswith(settings.TWILIO_API_BASE_URL))
    )


def _done(item: dict) -> bool:
    return bool(item.get("stored") or item.get("error"))


# One fetch of a message at a time: a session-level advisory lock keyed by the message id, not a row lock, so no
# transaction stays open across downloads (erasure, the purge and vacuum never wait on a slow carrier).
_FETCH_LOCK_SPACE = 0x4D4D53 << 40  # "MMS"; message ids stay below 2**40


@contextmanager
def _fetching(message_id: int):
    key = _FETCH_LOCK_SPACE | message_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        mine = cursor.fetchone()[0]
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _download(url: str, auth) -> tuple[bytes | None, str]:
    """The item's bytes (at most MAX_MEDIA_BYTES + 1), or None and why not: "" for a failure worth trying again
    later (network, timeouts, a broken body, 408/429/5xx), a reason for one that is not (other 4xx: gone at the
    carrier, not ours to read)."""
    try:
        with requests.get(url, auth=auth, timeout=(3.05, 20), stream=True) as response:
            if response.status_code >= 400:
                if response.status_code in (408, 429) or response.status_code >= 500:
                    return None, ""
                return None, f"not stored: the carrier answered {response.status_code}"
            return response.raw.read(MAX_MEDIA_BYTES + 1, decode_content=True), ""
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        return None, ""


def _record(message_id: int, seen: list, media: list) -> bool:
    """Write `media` if the row still holds what we last read or wrote (`seen`): an erasure, the purge or the
    sweeper giving up may have changed it meanwhile, and their word stands. Returns whether it was written."""
    pending = not all(_done(item) for item in media)
    return bool(Message.objects.filter(pk=message_id, media=seen).update(media=media, media_pending=pending))


def fetch_media(*, message_id: int) -> list[dict] | None:
    """Download each media item of an inbound message into default storage and record the stored path, item by
    item. One fetch of a message at a time (another one returns None at once). Items already stored or refused
    are left as they are, so a second fetch never stores a file twice. An item the carrier fails to give now stays
    pending (the message stays `media_pending`, the sweeper tries again later, not Celery); one it refuses for
    good is marked with the reason. If the row changed under the fetch (an erasure), the file just stored is
    deleted and nothing is written. Returns the media as recorded, or None when nothing was."""
    with _fetching(message_id) as mine:
        message = Message.objects.filter(pk=message_id).first() if mine else None
        if message is None:
            return None
        credentials = credentials_for(message)
        auth = (credentials.account_id, credentials.secret) if credentials else None
        seen = message.media
        media = copy.deepcopy(seen)
        for index, item in enumerate(media):
            if _done(item):
                continue
            url = item.get("url", "")
            if not _allowed_url(url):
                item["error"] = "not fetched: unexpected media host"
                continue
            content_type = item.get("content_type", "")
            if not content_type.startswith(ALLOWED_TYPES):
                item["error"] = f"not stored: {content_type or 'unknown'} files are not kept"
                continue
            data, refused = _download(url, auth)
            if data is None:
                if refused:
                    item["error"] = refused
                else:
                    logger.warning("media %s of message %s not fetched; the sweeper tries again", index, message.pk)
                continue
            if len(data) > MAX_MEDIA_BYTES:
                item["error"] = "not stored: larger than 5 MB"
                continue
            extension = mimetypes.guess_extension(content_type.split(";")[0]) or ".bin"
            name = f"mms/{message.business_id}/{message.pk}-{index}{extension}"
            default_storage.delete(name)  # left by an attempt that died before recording it: never a copy
            item["stored"] = default_storage.save(name, ContentFile(data))
            item["size"] = len(data)
            # Recorded item by item: a fetch that dies later neither loses this one nor stores it again.
            if not _record(message.pk, seen, media):
                default_storage.delete(item["stored"])
                return None
            seen = copy.deepcopy(media)
        return media if _record(message.pk, seen, media) else None


MEDIA_SWEEP_GRACE = dt.timedelta(minutes=1)  # the fetch rung on commit goes first
MEDIA_RETRY_EVERY = dt.timedelta(minutes=5)  # at least; a quarter of the message's age once that is longer
MEDIA_GIVE_UP_AFTER = dt.timedelta(hours=24)
MEDIA_SWEEP_BATCH = 20  # rings per sweep: a carrier media outage must not flood the default queue
GAVE_UP = "not stored: the carrier's copy could not be downloaded for 24 hours"


def sweep_media(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-ring the fetch of inbound MMS whose media is still pending: the enqueue on commit was lost (Redis down,
    a process killed) or the carrier did not give it yet. Each message is rung again after MEDIA_RETRY_EVERY, or a
    quarter of its age when that is longer (about 15 rings in its first day); after MEDIA_GIVE_UP_AFTER the
    missing items are marked as not stored, for the thread to say so (a fetch still running then finds the row
    changed and keeps nothing). Rows are taken with FOR UPDATE SKIP LOCKED, so two sweepers split the work."""
    from messaging.tasks import fetch_media_task

    now = now or timezone.now()
    backed_off = RawSQL(
        "swept_at IS NULL OR swept_at <= %s - GREATEST(%s, (%s - created_at) / 4)",
        [now, MEDIA_RETRY_EVERY, now],
        output_field=BooleanField(),
    )
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(backed_off, media_pending=True, created_at__lte=now - MEDIA_SWEEP_GRACE)
            .order_by("created_at")
            .only("pk", "created_at", "media")[:MEDIA_SWEEP_BATCH]
        )
        due = [m.pk for m in rows if m.created_at > now - MEDIA_GIVE_UP_AFTER]
        expired = [m for m in rows if m.created_at <= now - MEDIA_GIVE_UP_AFTER]
        for message in expired:
            message.media = [item if _done(item) else {**item, "error": GAVE_UP} for item in message.media]
            message.media_pending = False
        Message.objects.bulk_update(expired, ["media", "media_pending"])
        Message.objects.filter(pk__in=due).update(swept_at=now)
        for pk in due:  # each its own doorbell: a broker down leaves the rows pending for the next sweep
            transaction.on_commit(partial(fetch_media_task.delay, pk), robust=True)
    return {"requeued": len(due), "gave_up": len(expired)}
