"""The owner's on-call page, /app/<business_slug>/settings/on-call/ (owners and admins; operators get 403): paging
on or off, minutes before the next person, the backup, the weekly rotation and its handover, overrides, who is on
call now, and the "Test the escalation" button. Views translate HTTP into a form check and a call to
inbox.on_call or inbox.escalation, then redirect.

Also the page a paging text links to, /p/<token>/: no login (see inbox.escalation for why the link is proof
enough), GET shows what the text said and a button, POST (CSRF) takes the page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import get_usage
from django_ratelimit.decorators import ratelimit

from inbox import on_call
from inbox.escalation import (
    TEST_CALLER_NAME,
    TEST_CALLER_PHONE,
    escalation_test,
    page_from_token,
    page_link_acknowledge,
)
from inbox.forms_on_call import HOURS, WEEKDAYS, OverrideForm, PagingForm, RotationAddForm
from inbox.models import Escalation, OnCallMember, OnCallOverride, ResponseSettings
from secdesk.phone import pretty
from tenants.models import User
from tenants.permissions import MANAGERS, role_required

GET_OR_POST = ["GET", "HEAD", "POST"]
TEST_RATE = "3/h"  # test runs per business: each one texts real phones


def _add_service_errors(form, exc: ValidationError) -> None:
    errors = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
    for field, field_errors in errors.items():
        form.add_error(field if field in form.fields else None, field_errors)


def _settings(business) -> ResponseSettings:
    """The saved settings, or an unsaved row with the defaults: a GET writes nothing."""
    return ResponseSettings.objects.filter(business=business).first() or ResponseSettings(business=business)


def _paging_initial(settings: ResponseSettings) -> dict:
    return {
        "paging_enabled": settings.paging_enabled,
        "ack_minutes": settings.ack_minutes,
        "backup": settings.backup_id,
        "rotation_start": settings.rotation_start,
        "handover_weekday": settings.handover_weekday,
        "handover_hour": settings.handover_hour,
    }


def _render(request, *, paging_form=None, rotation_form=None, override_form=None, status: int = 200):
    business = request.business
    settings = _settings(business)
    now = timezone.now()
    members = on_call.active_members(business.pk)
    people = on_call.rotation(business.pk, members=members)
    current = on_call.on_call_at(business, at=now, settings=settings, members=members)
    context = {
        "settings": settings,
        "paging_form": paging_form or PagingForm(initial=_paging_initial(settings), business=business),
        "rotation_form": rotation_form or RotationAddForm(business=business),
        "override_form": override_form or OverrideForm(business=business),
        "rotation": people,
        "on_call": current,
        "next_handover": on_call.handover_after(settings, tz=business.tz, at=now) if people else None,
        "upcoming": on_call.upcoming_weeks(business, settings=settings, at=now),
        "overrides": OnCallOverride.objects.filter(business=business, ends_at__gt=now).select_related("user"),
        "chain": on_call.chain_preview(business, at=now, settings=settings),
        "no_phone": sorted((m.user for m in members.values() if not m.user.phone), key=str),
        "now": now,
        "last_test": Escalation.objects.filter(business=business, is_test=True).order_by("-created_at", "-pk").first(),
        "test_caller": TEST_CALLER_NAME,
        "handover": f"{dict(WEEKDAYS)[settings.handover_weekday]} at {dict(HOURS)[settings.handover_hour]}",
    }
    return render(request, "inbox/settings_on_call.html", context, status=status)


def _back(business, anchor: str = ""):
    return redirect(reverse("settings_on_call", args=[business.slug]) + anchor)


@role_required(*MANAGERS)
@require_http_methods(GET_OR_POST)
def on_call_settings(request, business_slug: str):
    """The whole page; POST saves the paging settings."""
    business = request.business
    if request.method != "POST":
        return _render(request)
    form = PagingForm(request.POST, business=business)
    if form.is_valid():
        try:
            on_call.paging_update(business=business, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, "On-call settings saved.")
            return _back(business)
    return _render(request, paging_form=form, status=400)


@role_required(*MANAGERS)
@require_POST
def rotation_add(request, business_slug: str):
    business = request.business
    form = RotationAddForm(request.POST, business=business)
    if form.is_valid():
        try:
            on_call.rotation_add(business=business, user=form.cleaned_data["user"], actor=request.user)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, f"{form.cleaned_data['user']} added to the rotation.")
            return _back(business, "#rotation")
    return _render(request, rotation_form=form, status=400)


def _in_rotation(business, user_id: int) -> None:
    if not OnCallMember.objects.filter(business=business, user_id=user_id).exists():
        raise Http404("Not in the rotation.")


@role_required(*MANAGERS)
@require_POST
def rotation_move(request, business_slug: str, user_id: int):
    _in_rotation(request.business, user_id)
    direction = request.POST.get("direction", "")
    if direction not in ("up", "down"):
        messages.error(request, "Move someone up or down.")
    else:
        on_call.rotation_move(business=request.business, user_id=user_id, direction=direction, actor=request.user)
    return _back(request.business, "#rotation")


@role_required(*MANAGERS)
@require_POST
def rotation_remove(request, business_slug: str, user_id: int):
    _in_rotation(request.business, user_id)
    on_call.rotation_remove(business=request.business, user_id=user_id, actor=request.user)
    messages.success(request, "Taken out of the rotation.")
    return _back(request.business, "#rotation")


@role_required(*MANAGERS)
@require_POST
def override_add(request, business_slug: str):
    business = request.business
    form = OverrideForm(request.POST, business=business)
    if form.is_valid():
        try:
            on_call.override_add(business=business, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, f"Override added: {form.cleaned_data['user']} is on call then.")
            return _back(business, "#overrides")
    return _render(request, override_form=form, status=400)


@role_required(*MANAGERS)
@require_POST
def override_delete(request, business_slug: str, override_id: int):
    override = get_object_or_404(
        OnCallOverride.objects.select_related("business"), business=request.business, pk=override_id
    )
    on_call.override_delete(override=override, actor=request.user)
    messages.success(request, "Override deleted.")
    return _back(request.business, "#overrides")


def _business_key(group: str, request) -> str:
    return str(request.business.pk)


@role_required(*MANAGERS)
@require_POST
def escalation_test_run(request, business_slug: str):
    """Run the chain on a test conversation. At most TEST_RATE per business (every run texts real phones); every
    attempt counts, so the counter cannot be raced past its limit."""
    business = request.business
    usage = get_usage(
        request, group="inbox.on_call_test", key=_business_key, rate=TEST_RATE, method="POST", increment=True
    )
    if usage is not None and usage["should_limit"]:
        minutes = max(1, round(usage["time_left"] / 60))
        messages.error(request, f"You can run the test 3 times an hour. Try again in about {minutes} minutes.")
        return _render(request, status=429)
    try:
        escalation = escalation_test(business=business, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(business, "#test")
    messages.success(request, describe_test(escalation))
    return _back(business, "#test")


def describe_test(escalation: Escalation) -> str:
    """What the test did, in a sentence or two."""
    names = {
        pk: name or email
        for pk, name, email in User.objects.filter(pk__in=escalation.chain).values_list("pk", "full_name", "email")
    }
    if escalation.outcome != Escalation.Outcome.RUNNING:
        return "Test run: nobody in the chain could be texted (the test conversation says why). The owners were told."
    rest = [names[pk] for pk in escalation.chain[escalation.step + 1 :] if pk in names]
    then = f" If nobody takes it within the minutes set, {', then '.join(rest)} will be paged in turn." if rest else ""
    first = names.get(escalation.chain[escalation.step], "someone")
    return (
        f"Test started: {first} was just texted a page marked TEST.{then} "
        "Reply 1 to the text (or open its link) to end the test."
    )


# --- the link in a page -------------------------------------------------------------------------------------------


def _page_token(group, request) -> str:
    return request.resolver_match.kwargs.get("token", "")


# The token is an unguessable signature, so the limits only stop hammering: per link, and generously per IP (an
# on-call technician on a carrier's shared NAT address, or a link-preview bot, must never lock anyone out).
@never_cache
@ratelimit(key=_page_token, rate="30/h", method="GET", block=True)
@ratelimit(key=_page_token, rate="10/h", method="POST", block=True)
@ratelimit(key="ip", rate="600/h", method=("GET", "POST"), block=True)
@require_http_methods(GET_OR_POST)
def page_ack(request, token: str):
    """The page a paging text links to. An unknown or forged link is the ordinary 404."""
    found = page_from_token(token)
    if found is None:
        raise Http404("No such page.")
    escalation, membership = found
    if request.method == "POST":
        page_link_acknowledge(escalation=escalation, membership=membership)
        return redirect("page_ack", token=token)
    conversation = escalation.conversation
    is_test_caller = conversation.contact.phone == TEST_CALLER_PHONE
    return render(
        request,
        "inbox/page_ack.html",
        {
            "escalation": escalation,
            "member": membership.user,
            "business": escalation.business,
            "caller": TEST_CALLER_NAME if is_test_caller else pretty(conversation.contact.phone),
            "taken_by_you": escalation.acknowledged_by_id == membership.user_id,
            "conversation_url": reverse("conversation", args=[escalation.business.slug, conversation.pk]),
        },
    )
