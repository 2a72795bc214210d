"""The owner's inbox settings pages, under /app/<business_slug>/settings/: Assignment (the routing rule and
territories) and Canned replies. Owners and admins only; operators get 403 (they use canned replies from the
composer). Views translate HTTP into a form check and a call to inbox.settings_services, then redirect."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from inbox.canned import MAX_CANNED_REPLIES, VARIABLES, preview
from inbox.forms_settings import CannedReplyForm, RoutingModeForm, TerritoryForm
from inbox.models import CannedReply, RoutingSettings, Territory
from inbox.routing import available_members
from inbox.settings_services import (
    canned_reply_delete,
    canned_reply_save,
    routing_mode_update,
    routing_settings_or_default,
    territory_delete,
    territory_save,
)
from intake.settings_services import intake_settings_or_defaults
from tenants.models import Membership
from tenants.permissions import MANAGERS, role_required

GET_OR_POST = ["GET", "HEAD", "POST"]


def _add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    errors = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
    for field, field_errors in errors.items():
        form.add_error(field if field in form.fields else None, field_errors)


# --- assignment ---------------------------------------------------------------------------------------------------


def _territory_rows(business, available_ids: set[int]) -> list[dict]:
    """Each territory with its current members (someone who left is not shown) and who of them is available."""
    members = {m.user_id: m.user for m in Membership.objects.filter(business=business).select_related("user")}
    rows = []
    for territory in Territory.objects.filter(business=business).prefetch_related("assignees"):
        people = [members[u.pk] for u in territory.assignees.all() if u.pk in members]
        rows.append(
            {
                "territory": territory,
                "people": people,
                "available": [p for p in people if p.pk in available_ids],
            }
        )
    return rows


def _render_routing(request, *, mode_form: RoutingModeForm, territory_form: TerritoryForm):
    business = request.business
    routing = routing_settings_or_default(business=business)
    available = available_members(business_id=business.pk)
    available_ids = {user_id for user_id, _ in available}
    away = [
        m.user
        for m in Membership.objects.filter(business=business).select_related("user").order_by("user_id")
        if m.user_id not in available_ids
    ]
    return render(
        request,
        "inbox/settings_routing.html",
        {
            "routing": routing,
            "mode_form": mode_form,
            "territory_form": territory_form,
            "territories": _territory_rows(business, available_ids),
            "available": [name for _, name in available],
            "away": away,
            "asks_zip": "zip_code" in intake_settings_or_defaults(business=business).fields_shown,
            "territory_mode": routing.mode == RoutingSettings.Mode.TERRITORY,
        },
    )


@role_required(*MANAGERS)
@require_http_methods(GET_OR_POST)
def routing_settings(request, business_slug: str):
    """The assignment rule (POST saves it) and the territories, with a form to add one."""
    business = request.business
    territory_form = TerritoryForm(business=business)
    if request.method != "POST":
        mode_form = RoutingModeForm(initial={"mode": routing_settings_or_default(business=business).mode})
        return _render_routing(request, mode_form=mode_form, territory_form=territory_form)
    mode_form = RoutingModeForm(request.POST)
    if mode_form.is_valid():
        try:
            routing = routing_mode_update(business=business, mode=mode_form.cleaned_data["mode"], actor=request.user)
        except ValidationError as exc:
            _add_service_errors(mode_form, exc)
        else:
            messages.success(request, f"Assignment saved: {routing.get_mode_display()}.")
            return redirect("settings_routing", business_slug=business.slug)
    return _render_routing(request, mode_form=mode_form, territory_form=territory_form)


@role_required(*MANAGERS)
@require_POST
def territory_add(request, business_slug: str):
    business = request.business
    form = TerritoryForm(request.POST, business=business)
    if form.is_valid():
        try:
            territory = territory_save(business=business, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, f"Territory “{territory.name}” added.")
            return redirect(reverse("settings_routing", args=[business.slug]) + "#territories")
    mode_form = RoutingModeForm(initial={"mode": routing_settings_or_default(business=business).mode})
    return _render_routing(request, mode_form=mode_form, territory_form=form)


@role_required(*MANAGERS)
@require_http_methods(GET_OR_POST)
def territory_edit(request, business_slug: str, territory_id: int):
    business = request.business
    territory = get_object_or_404(Territory, business=business, pk=territory_id)
    if request.method != "POST":
        form = TerritoryForm(initial=TerritoryForm.initial_for(territory), business=business)
    else:
        form = TerritoryForm(request.POST, business=business)
        if form.is_valid():
            try:
                territory = territory_save(
                    business=business, territory=territory, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, f"Territory “{territory.name}” saved.")
                return redirect(reverse("settings_routing", args=[business.slug]) + "#territories")
    return render(request, "inbox/settings_territory.html", {"territory": territory, "form": form})


@role_required(*MANAGERS)
@require_POST
def territory_remove(request, business_slug: str, territory_id: int):
    territory = get_object_or_404(
        Territory.objects.select_related("business"), business=request.business, pk=territory_id
    )
    territory_delete(territory=territory, actor=request.user)
    messages.success(request, f"Territory “{territory.name}” deleted.")
    return redirect(reverse("settings_routing", args=[request.business.slug]) + "#territories")


# --- canned replies -----------------------------------------------------------------------------------------------


def _render_canned(request, *, form: CannedReplyForm):
    business = request.business
    replies = list(CannedReply.objects.filter(business=business))
    for reply in replies:
        reply.preview, reply.info = preview(reply, business=business)
    return render(
        request,
        "inbox/settings_canned_replies.html",
        {
            "replies": replies,
            "form": form,
            "variables": VARIABLES,
            "at_limit": len(replies) >= MAX_CANNED_REPLIES,
            "max_replies": MAX_CANNED_REPLIES,
        },
    )


@role_required(*MANAGERS)
@require_http_methods(GET_OR_POST)
def canned_replies(request, business_slug: str):
    """The business's canned replies with how each reads and costs; POST adds one."""
    business = request.business
    form = CannedReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reply = canned_reply_save(business=business, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, f"Canned reply “{reply.title}” added.")
            return redirect("settings_canned_replies", business_slug=business.slug)
    return _render_canned(request, form=form)


@role_required(*MANAGERS)
@require_http_methods(GET_OR_POST)
def canned_reply_edit(request, business_slug: str, reply_id: int):
    business = request.business
    reply = get_object_or_404(CannedReply, business=business, pk=reply_id)
    if request.method != "POST":
        form = CannedReplyForm(initial={"title": reply.title, "body": reply.body})
    else:
        form = CannedReplyForm(request.POST)
        if form.is_valid():
            try:
                reply = canned_reply_save(business=business, reply=reply, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, f"Canned reply “{reply.title}” saved.")
                return redirect("settings_canned_replies", business_slug=business.slug)
    text, info = preview(reply, business=business)
    return render(
        request,
        "inbox/settings_canned_reply.html",
        {"reply": reply, "form": form, "variables": VARIABLES, "preview": text, "info": info},
    )


@role_required(*MANAGERS)
@require_POST
def canned_reply_remove(request, business_slug: str, reply_id: int):
    reply = get_object_or_404(CannedReply.objects.select_related("business"), business=request.business, pk=reply_id)
    canned_reply_delete(reply=reply, actor=request.user)
    messages.success(request, f"Canned reply “{reply.title}” deleted.")
    return redirect("settings_canned_replies", business_slug=request.business.slug)
