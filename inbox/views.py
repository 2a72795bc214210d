"""The operator inbox, under /app/<business_slug>/: a conversation's page and the private files it shows."""

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from inbox.models import Conversation
from inbox.selectors import conversation_timeline
from intake.models import IntakePhoto
from tenants.permissions import EVERYONE, role_required


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
