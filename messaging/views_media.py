"""Caller MMS media for the business's own people: photos of a leak are private, so they are never under the
public MEDIA_URL; this view streams the stored copy to logged-in members of the business that received it."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe

from messaging.selectors import stored_media_get
from tenants.permissions import EVERYONE, role_required

# Shown in the page (an <img> or a player); anything else (PDF, vCard, SVG that can carry script) is downloaded.
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif")
INLINE_PREFIXES = ("video/", "audio/")


@role_required(*EVERYONE)
@require_safe
def message_media(request, business_slug: str, message_id: int, index: int):
    """Item `index` of a message's MMS media. Members of the business only (the tenant middleware sends others a
    404 and anonymous users to login); a message of another business, an item never stored or a file gone from
    storage is 404 too. `nosniff` and a CSP sandbox stop a file from running as a page on our origin."""
    item = stored_media_get(business=request.business, message_id=message_id, index=index)
    if item is None:
        raise Http404("Not found.")
    try:
        handle = default_storage.open(item.path, "rb")
    except FileNotFoundError:
        raise Http404("Not found.") from None
    content_type = item.content_type.split(";")[0].strip().lower()
    inline = content_type in INLINE_TYPES or content_type.startswith(INLINE_PREFIXES)
    response = FileResponse(
        handle,
        content_type=content_type or "application/octet-stream",
        as_attachment=not inline,
        filename=f"message-{message_id}-{index + 1}{_suffix(item.path)}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""
