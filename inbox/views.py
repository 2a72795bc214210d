"""The operator inbox, under /app/<business_slug>/: the conversation list, a conversation's page and the private
files it shows."""

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from inbox.models import Conversation
from inbox.selectors import (
    INBOX_VIEWS,
    INBOX_VIEWS_BY_KEY,
    NEEDS_REPLY,
    conversation_timeline,
    inbox_counts,
    inbox_page,
    waiting_label,
)
from intake.models import IntakePhoto
from tenants.permissions import EVERYONE, role_required


@role_required(*EVERYONE)
@require_safe
def inbox(request, business_slug: str):
    """The inbox list: one view (`?view=`, "Needs reply" by default), an optional search (`?q=`) and a keyset
    cursor (`?after=`). A constant number of queries whatever the page holds: the counts for every view in one
    aggregate, the page in one query. An unknown view falls back to the default."""
    view = request.GET.get("view", NEEDS_REPLY)
    if view not in INBOX_VIEWS_BY_KEY:
        view = NEEDS_REPLY
    q = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    business_id = request.business.pk
    counts = inbox_counts(business_id=business_id, user=request.user, q=q)
    page = inbox_page(business_id=business_id, user=request.user, view=view, q=q, cursor=request.GET.get("after", ""))
    now = timezone.now()
    for row in page.rows:
        row.waiting = waiting_label(since=row.waiting_since, now=now) if row.needs_reply else ""
    tabs = [{"key": v.key, "label": v.label, "count": counts[v.key], "current": v.key == view} for v in INBOX_VIEWS]
    return render(
        request,
        "inbox/inbox.html",
        {
            "view": view,
            "view_label": INBOX_VIEWS_BY_KEY[view].label,
            "q": q,
            "tabs": tabs,
            "rows": page.rows,
            "next_cursor": page.next_cursor,
            "is_first_page": not request.GET.get("after"),
        },
    )


@role_required(*EVERYONE)
@require_safe
def conversation(request, business_slug: str, conversation_id: int):
    """One conversation, read-only: who, its state, and everything that happened in it, oldest first. Another
    business's conversation is a 404, the same as one that does not exist."""
    thread = get_object_or_404(
        Conversation.objects.select_related("contact", "assignee"), business=request.business, pk=conversation_id
    )
    return render(
        request,
        "inbox/conversation.html",
        {"conversation": thread, "contact": thread.contact, "timeline": conversation_timeline(conversation=thread)},
    )


@role_required(*EVERYONE)
@require_safe
def intake_photo(request, business_slug: str, photo_id: int):
    """A caller's intake photo, for members of the business that received it. Photos are private (never under the
    public MEDIA_URL); another business's photo, no such photo or a file gone from storage is a 404. `nosniff` and
    a CSP sandbox stop a file from running as a page on our origin (the upload was checked to be an image, but the
    header costs nothing)."""
    photo = IntakePhoto.objects.filter(business=request.business, pk=photo_id).first()
    if photo is None or not photo.file:
        raise Http404("Not found.")
    try:
        handle = photo.file.storage.open(photo.file.name, "rb")
    except FileNotFoundError:
        raise Http404("Not found.") from None
    response = FileResponse(handle, content_type=photo.content_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
