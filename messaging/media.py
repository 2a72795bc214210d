"""Inbound MMS media: carrier URLs need the account's credentials and may expire, so we keep our own copy."""

import datetime as dt
import logging
import mimetypes
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
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


def fetch_media(*, message_id: int) -> list[dict] | None:
    """Download each media item of an inbound message into default storage and record the stored path. Runs with
    the row locked (SKIP LOCKED: while another fetch of it runs, this one returns None). Items already stored or
    refused are skipped, so a second fetch never stores a file twice. A network or carrier error stops the
    fetch: what was stored so far is kept, the message stays `media_pending`, and the media sweeper tries again
    later (no long Celery retries)."""
    with transaction.atomic():
        message = Message.objects.select_for_update(skip_locked=True).filter(pk=message_id).first()
        if message is None:
            return None
        credentials = credentials_for(message)
        auth = (credentials.account_id, credentials.secret) if credentials else None
        media = list(message.media)
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
            try:
                response = requests.get(url, auth=auth, timeout=(3.05, 20), stream=True)
                response.raise_for_status()
                data = response.raw.read(MAX_MEDIA_BYTES + 1, decode_content=True)
            except requests.RequestException:
                logger.warning("media %s of message %s not fetched; the sweeper tries again", index, message.pk)
                break
            if len(data) > MAX_MEDIA_BYTES:
                item["error"] = "not stored: larger than 5 MB"
                continue
            extension = mimetypes.guess_extension(content_type.split(";")[0]) or ".bin"
            name = f"mms/{message.business_id}/{message.pk}-{index}{extension}"
            item["stored"] = default_storage.save(name, ContentFile(data))
            item["size"] = len(data)
        message.media = media
        message.media_pending = not all(_done(item) for item in media)
        message.save(update_fields=["media", "media_pending"])
    return media


MEDIA_SWEEP_GRACE = dt.timedelta(minutes=1)  # the fetch rung on commit goes first
MEDIA_RETRY_EVERY = dt.timedelta(minutes=5)
MEDIA_GIVE_UP_AFTER = dt.timedelta(hours=24)
MEDIA_SWEEP_BATCH = 200
GAVE_UP = "not stored: the carrier's copy could not be downloaded for 24 hours"


def sweep_media(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-ring the fetch of inbound MMS whose media is still pending: the enqueue on commit was lost (Redis down,
    a process killed) or the carrier did not answer. At most every MEDIA_RETRY_EVERY per message; after
    MEDIA_GIVE_UP_AFTER the missing items are marked as not stored, for the thread to say so. Rows are taken with
    FOR UPDATE SKIP LOCKED, so two sweepers split the work and a fetch in progress is left alone."""
    from messaging.tasks import fetch_media_task

    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(media_pending=True, created_at__lte=now - MEDIA_SWEEP_GRACE)
            .exclude(swept_at__gt=now - MEDIA_RETRY_EVERY)
            .order_by("created_at")
            .only("pk", "created_at", "media")[:MEDIA_SWEEP_BATCH]
        )
        due = [m.pk for m in rows if m.created_at > now - MEDIA_GIVE_UP_AFTER]
        expired = [m for m in rows if m.created_at <= now - MEDIA_GIVE_UP_AFTER]
        for message in expired:
            media = [item if _done(item) else {**item, "error": GAVE_UP} for item in message.media]
            Message.objects.filter(pk=message.pk).update(media=media, media_pending=False)
        Message.objects.filter(pk__in=due).update(swept_at=now)

        def ring() -> None:
            for pk in due:
                fetch_media_task.delay(pk)

        transaction.on_commit(ring, robust=True)
    return {"requeued": len(due), "gave_up": len(expired)}
