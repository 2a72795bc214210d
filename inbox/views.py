"""The operator inbox, under /app/<business_slug>/: the conversation list, a conversation's page and the private
files it shows."""

import zoneinfo

from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from inbox import live
from inbox.canned import composer_context
from inbox.escalation import escalation_state
from inbox.models import Conversation
from inbox.selectors import (
    INBOX_VIEWS,
    INBOX_VIEWS_BY_KEY,
    NEEDS_REPLY,
    TIMELINE_LIMIT,
    TIMELINE_MAX,
    conversation_timeline,
    inbox_counts,
    inbox_page,
    teammate_presence,
    thread_sidebar,
    waiting_label,
)
from intake.models import IntakePhoto
from tenants.permissions import EVERYONE, role_required


@role_required(*EVERYONE)
@require_safe
def inbox(request, business_slug: str):
    """The inbox list: one view (`?view=`, "Needs reply" by default), an optional search (`?q=`) and a keyset
    cursor (`?after=`). A constant number of queries whatever the page holds: the counts for every view in one
    aggregate, the page in one query. An unknown view falls back to the default. The page's poll adds
    `?live=<version>`: 204 (one Redis read) when the business's inbox has not changed, else the list's parts and
    the member's new alerts."""
    view = request.GET.get("view", NEEDS_REPLY)
    if view not in INBOX_VIEWS_BY_KEY:
        view = NEEDS_REPLY
    q = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    business_id = request.business.pk
    since = request.GET.get("live", "")
    version = live.version(business_id=business_id)  # read before the data: a change meanwhile is seen next poll
    if since and since == version:
        return HttpResponse(status=204)
    counts = inbox_counts(business_id=business_id, user=request.user, q=q)
    page = inbox_page(business_id=business_id, user=request.user, view=view, q=q, cursor=request.GET.get("after", ""))
    now = timezone.now()
    for row in page.rows:
        row.waiting = waiting_label(since=row.waiting_since, now=now) if row.needs_reply else ""
    tabs = [{"key": v.key, "label": v.label, "count": counts[v.key], "current": v.key == view} for v in INBOX_VIEWS]
    response = render(
        request,
        "inbox/_inbox_parts.html" if since else "inbox/inbox.html",
        {
            "view": view,
            "view_label": INBOX_VIEWS_BY_KEY[view].label,
            "q": q,
            "tabs": tabs,
            "rows": page.rows,
            "next_cursor": page.next_cursor,
            "is_first_page": not request.GET.get("after"),
            "live_version": version,
        },
    )
    if since:
        response["X-Live-Business"] = version
        alerts = live.alerts_header(business=request.business, user=request.user, since=since)
        if alerts:
            response["X-Live-Alerts"] = alerts
    return response


def thread_context(request, thread: Conversation) -> dict:
    """Everything the conversation page and its live parts show. The live version is read before the data, so a
    change landing while the page renders is picked up by the next poll rather than lost."""
    from inbox.views_actions import snooze_presets

    version = live.version(business_id=request.business.pk, conversation_id=thread.pk)
    business_version = live.version(business_id=request.business.pk)
    thread.business = request.business
    show_all = request.GET.get("all") == "1"
    timeline = conversation_timeline(conversation=thread, limit=TIMELINE_MAX if show_all else TIMELINE_LIMIT)
    now = timezone.now()
    first_response = None
    if thread.first_response_at is not None:
        first_response = waiting_label(since=thread.created_at, now=thread.first_response_at).removeprefix("waiting ")
    return {
        "conversation": thread,
        "contact": thread.contact,
        "timeline": timeline,
        "sidebar": thread_sidebar(conversation=thread),
        "presence": teammate_presence(timeline=timeline, user=request.user, now=now),
        # the caller's latest answers, for the details beside the timeline
        "intake_lines": next((item.lines for item in reversed(timeline) if item.kind == "intake"), []),
        "first_response": first_response,
        "escalation_state": escalation_state(thread),
        "live_version": version,
        "live_business_version": business_version,
        "snooze_presets": snooze_presets(now=now, tz=zoneinfo.ZoneInfo(request.business.timezone)),
        "lost_reasons": Conversation.LostReason.choices,
        "priorities": Conversation.Priority.choices,
        **composer_context(conversation=thread, business=request.business, canned_id=request.GET.get("canned")),
    }


@role_required(*EVERYONE)
@require_safe
def conversation(request, business_slug: str, conversation_id: int):
    """One conversation: who, its state, what the team can do, and everything that happened in it, oldest first.
    Another business's conversation is a 404, the same as one that does not exist."""
    thread = get_object_or_404(
        Conversation.objects.select_related("contact", "assignee", "phone_number"),
        business=request.business,
        pk=conversation_id,
    )
    return render(request, "inbox/conversation.html", thread_context(request, thread))


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
