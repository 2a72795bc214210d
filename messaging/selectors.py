"""Reads of messages. Every function takes the business and reads only its rows."""

import dataclasses

from messaging.models import Message
from tenants.models import Business


@dataclasses.dataclass(frozen=True)
class StoredMedia:
    """One MMS item we keep a copy of (see messaging.media.fetch_media)."""

    path: str  # name in default storage, under mms/<business id>/
    content_type: str
    size: int | None


def stored_media_get(*, business: Business, message_id: int, index: int) -> StoredMedia | None:
    """Item `index` (0-based) of a message's media, when the business owns the message and a copy is stored.
    None for another business's message, no such message or item, or an item that was never stored (same
    answer). A stored path outside the business's own folder is treated as not stored. One query."""
    media = Message.objects.filter(business=business, pk=message_id).values_list("media", flat=True).first()
    if not isinstance(media, list) or not 0 <= index < len(media):
        return None
    item = media[index]
    if not isinstance(item, dict):
        return None
    path = item.get("stored") or ""
    if not path.startswith(f"mms/{business.pk}/") or ".." in path.split("/"):
        return None
    return StoredMedia(path=path, content_type=item.get("content_type") or "", size=item.get("size"))
