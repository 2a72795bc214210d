"""Inbound MMS media: carrier URLs need the account's credentials and may expire, so we keep our own copy."""

import logging
import mimetypes
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

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


def fetch_media(*, message_id: int) -> list[dict]:
    """Download each media item of an inbound message into default storage and record the stored path. Items
    already stored are skipped, so a retry never duplicates files. Raises on network errors (the task retries)."""
    message = Message.objects.select_related("business").get(pk=message_id)
    credentials = credentials_for(message)
    auth = (credentials.account_id, credentials.secret) if credentials else None
    media = list(message.media)
    for index, item in enumerate(media):
        if item.get("stored") or item.get("error"):
            continue
        url = item.get("url", "")
        if not _allowed_url(url):
            item["error"] = "not fetched: unexpected media host"
            continue
        content_type = item.get("content_type", "")
        if not content_type.startswith(ALLOWED_TYPES):
            item["error"] = f"not stored: {content_type or 'unknown'} files are not kept"
            continue
        response = requests.get(url, auth=auth, timeout=(3.05, 20), stream=True)
        response.raise_for_status()
        data = response.raw.read(MAX_MEDIA_BYTES + 1, decode_content=True)
        if len(data) > MAX_MEDIA_BYTES:
            item["error"] = "not stored: larger than 5 MB"
            continue
        extension = mimetypes.guess_extension(content_type.split(";")[0]) or ".bin"
        name = f"mms/{message.business_id}/{message.pk}-{index}{extension}"
        item["stored"] = default_storage.save(name, ContentFile(data))
        item["size"] = len(data)
        # Record progress item by item: if a later item fails, the retry neither loses nor duplicates this one.
        Message.objects.filter(pk=message.pk).update(media=media)
    Message.objects.filter(pk=message.pk).update(media=media)
    return media
