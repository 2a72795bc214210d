"""Operator actions on a conversation (assign, status, snooze, book, lost, priority, tags, notes) and the page's
live refresh. Every action is a POST that works without JavaScript (redirect back with a flash message) and with
htmx (the changed parts of the page come back as out-of-band swaps). Another business's conversation is a 404."""

import datetime as dt
import zoneinfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import trigger_client_event

from inbox import actions, live
from inbox.models import Conversation
from inbox.views import thread_context
from tenants.permissions import EVERYONE, role_required


def _thread(request, conversation_id: int) -> Conversation:
    return get_object_or_404(
        Conversation.objects.select_related("contact", "assignee", "phone_number"),
        business=request.business,
        pk=conversation_id,
    )


def _respond(request, thread: Conversation):
    """After an action: the page again (plain POST) or its fragments (htmx), with the flash already queued."""
    if not request.htmx:
        return redirect(reverse("conversation", args=[request.business.slug, thread.pk]))
    thread = _thread(request, thread.pk)
    context = thread_context(request, thread)
    response = TemplateResponse(request, "inbox/_thread_parts.html", {**context, "oob": True})
    response["X-Live-Version"] = context["live_version"]
    return response


def _act(request, conversation_id: int, action, done: str):
    thread = _thread(request, conversation_id)
    try:
        action(thread)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _respond(request, thread)
    messages.success(request, done)
    response = _respond(request, thread)
    if request.htmx:
        trigger_client_event(response, "actionDone")  # app.js clears a form marked data-reset-on-done
    return response


@role_required(*EVERYONE)
@require_POST
def conversation_assign(request, business_slug: str, conversation_id: int):
    """`assignee` is "me", a teammate's user id, or empty for nobody. A user id outside the business is refused."""
    choice = request.POST.get("assignee", "").strip()
    if choice == "me":
        assignee, label = request.user, "Assigned to you."
    elif choice:
        membership = actions.member_of(request.business, choice)
        assignee = membership.user if membership else False
        label = f"Assigned to {membership.user.full_name or membership.user.email}." if membership else ""
    else:
        assignee, label = None, "Nobody is assigned now."

    def do(thread):
        if assignee is False:
            raise ValidationError("Pick someone on this business's team.")
        actions.conversation_assign(conversation=thread, assignee=assignee, actor=request.user)

    return _act(request, conversation_id, do, label)


@role_required(*EVERYONE)
@require_POST
def conversation_status(request, business_slug: str, conversation_id: int):
    status = request.POST.get("status", "")
    labels = {"open": "Reopened.", "waiting": "Marked as waiting on the caller.", "closed": "Closed."}

    def do(thread):
        actions.conversation_set_status(conversation=thread, status=status, actor=request.user)

    return _act(request, conversation_id, do, labels.get(status, ""))


def snooze_presets(*, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> list[tuple[str, str, dt.datetime]]:
    """(key, label, time) choices for snoozing, in the business's time zone: in an hour, in three hours,
    tomorrow at 8 AM and next Monday at 8 AM."""
    local = now.astimezone(tz)
    tomorrow = (local + dt.timedelta(days=1)).date()
    monday = (local + dt.timedelta(days=7 - local.weekday())).date()
    eight = dt.time(8, 0)
    return [
        ("1h", "1 hour", now + dt.timedelta(hours=1)),
        ("3h", "3 hours", now + dt.timedelta(hours=3)),
        ("tomorrow", "Tomorrow 8 AM", dt.datetime.combine(tomorrow, eight, tzinfo=tz)),
        ("monday", "Monday 8 AM", dt.datetime.combine(monday, eight, tzinfo=tz)),
    ]


def parse_snooze(*, preset: str, until: str, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """A preset key or a `datetime-local` value ("2026-11-24T15:30", in the business's time zone)."""
    for key, _label, at in snooze_presets(now=now, tz=tz):
        if preset == key:
            return at
    until = until.strip()
    if not until or not until.isascii():
        raise ValidationError("Pick when the conversation should come back.")
    try:
        naive = dt.datetime.fromisoformat(until)
    except ValueError:
        raise ValidationError("Pick when the conversation should come back.") from None
    if naive.tzinfo is not None:
        raise ValidationError("Pick when the conversation should come back.")
    return naive.replace(tzinfo=tz)


@role_required(*EVERYONE)
@require_POST
def conversation_snooze(request, business_slug: str, conversation_id: int):
    tz = zoneinfo.ZoneInfo(request.business.timezone)

    def do(thread):
        until = parse_snooze(
            preset=request.POST.get("preset", ""), until=request.POST.get("until", ""), now=timezone.now(), tz=tz
        )
        actions.conversation_snooze(conversation=thread, until=until, actor=request.user)

    return _act(request, conversation_id, do, "Snoozed. It comes back by itself, or sooner if the caller texts.")


@role_required(*EVERYONE)
@require_POST
def conversation_book(request, business_slug: str, conversation_id: int):
    def do(thread):
        value = actions.parse_job_value(request.POST.get("value", ""))
        actions.conversation_book(conversation=thread, value=value, actor=request.user)

    return _act(request, conversation_id, do, "Marked booked. Nice work!")


@role_required(*EVERYONE)
@require_POST
def conversation_lost(request, business_slug: str, conversation_id: int):
    def do(thread):
        actions.conversation_lose(
            conversation=thread,
            reason=request.POST.get("reason", ""),
            note=request.POST.get("note", ""),
            actor=request.user,
        )

    return _act(request, conversation_id, do, "Marked lost.")


@role_required(*EVERYONE)
@require_POST
def conversation_priority(request, business_slug: str, conversation_id: int):
    priority = request.POST.get("priority", "")

    def do(thread):
        actions.conversation_set_priority(conversation=thread, priority=priority, actor=request.user)

    return _act(request, conversation_id, do, "Priority updated.")


@role_required(*EVERYONE)
@require_POST
def conversation_tags(request, business_slug: str, conversation_id: int):
    def do(thread):
        names = actions.tag_names(request.POST.get("tags", ""))
        actions.conversation_set_tags(conversation=thread, names=names, actor=request.user)

    return _act(request, conversation_id, do, "Tags saved.")


@role_required(*EVERYONE)
@require_POST
def conversation_note(request, business_slug: str, conversation_id: int):
    def do(thread):
        actions.note_add(conversation=thread, body=request.POST.get("body", ""), author=request.user)

    return _act(request, conversation_id, do, "Note added.")


@role_required(*EVERYONE)
@require_safe
def conversation_live(request, business_slug: str, conversation_id: int):
    """The page's poll. `v` is the conversation's version the page shows, `b` the business's: 204 when neither
    moved (two Redis reads); the changed parts when the conversation moved; and the member's new alerts (say, an
    urgent call in another conversation) whenever the business moved."""
    thread = _thread(request, conversation_id)
    since, business_since = request.GET.get("v", ""), request.GET.get("b", "")
    business_version = live.version(business_id=request.business.pk)
    changed = since != live.version(business_id=request.business.pk, conversation_id=thread.pk)
    if not changed and business_since == business_version:
        return HttpResponse(status=204)
    if changed:
        context = thread_context(request, thread)
        response = TemplateResponse(request, "inbox/_thread_parts.html", {**context, "live": True})
        response["X-Live-Version"] = context["live_version"]
    else:
        response = HttpResponse("")
    response["X-Live-Business"] = business_version
    if business_since != business_version:
        alerts = live.alerts_header(business=request.business, user=request.user, since=business_since)
        if alerts:
            response["X-Live-Alerts"] = alerts
    return response
