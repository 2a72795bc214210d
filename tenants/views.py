"""The business home (onboarding checklist) and the owner's settings pages: profile and branding, hours and
holidays. Views translate HTTP into a form check and a call to tenants.settings_services, then redirect."""

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from tenants.forms import WEEK_PRESETS, HolidayForm, HoursForm, ProfileForm
from tenants.models import Business, Holiday, Membership
from tenants.permissions import EVERYONE, MANAGERS, OWNERS, role_required
from tenants.results_display import results_display
from tenants.selectors import (
    contrast_with_white,
    onboarding_checklist,
    opening_status,
    upcoming_holidays,
    week_hours,
)
from tenants.selectors_results import PRESETS, PeriodError, period_from_query, results_for
from tenants.settings_services import add_holiday, delete_holiday, replace_business_hours, update_business_profile

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Below this contrast ratio white header text on the brand colour gets hard to read (WCAG large-text level).
MIN_HEADER_CONTRAST = 3.0


def _add_service_errors(form: forms.BaseForm, exc: ValidationError, *, default_field: str | None = None) -> None:
    """Show a service's ValidationError on the form: on the named fields when the form has them."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(default_field, exc)


@role_required(*EVERYONE)
@require_safe
def dashboard(request, business_slug):
    """The business home: results of the missed-call flow for a date range (everyone on the team sees how it
    is going; exports are for owners and admins), and the onboarding checklist until set-up is done."""
    business = request.business
    checklist = onboarding_checklist(business=business, for_owner=request.membership.role in OWNERS)
    done = sum(item.done for item in checklist)
    period_error = ""
    try:
        period = period_from_query(request.GET, business=business)
    except PeriodError as exc:
        period_error = str(exc)
        period = period_from_query({}, business=business)
    return render(
        request,
        "tenants/dashboard.html",
        {
            "checklist": checklist,
            "done_count": done,
            "total": len(checklist),
            "all_done": done == len(checklist),
            "nothing_done": done == 0,
            "next_item": next((item for item in checklist if not item.done), None),
            "status": opening_status(business=business),
            "results": results_display(results_for(business=business, period=period)),
            "period_error": period_error,
            "presets": PRESETS,
            "chosen_days": None if request.GET.get("from") or request.GET.get("to") else period.days,
        },
    )


@role_required(*MANAGERS)
@require_safe
def settings_home(request, business_slug):
    business = request.business
    return render(
        request,
        "tenants/settings_home.html",
        {
            "week": week_hours(business=business),
            "status": opening_status(business=business),
            "holidays": upcoming_holidays(business=business)[:3],
            "member_count": Membership.objects.filter(business=business).count(),
        },
    )


@role_required(*MANAGERS)
def settings_profile(request, business_slug):
    business = request.business
    # a copy: validating a ModelForm writes the submitted values onto its instance, and the header and preview
    # must keep showing what is saved until the save succeeds
    bound = request.method == "POST"
    form = ProfileForm(
        request.POST if bound else None, request.FILES if bound else None, instance=Business.objects.get(pk=business.pk)
    )
    if bound and form.is_valid():
        try:
            saved = update_business_profile(business=business, **form.service_kwargs())
        except ValidationError as exc:
            _add_service_errors(form, exc, default_field="logo")
        else:
            messages.success(request, "Profile and branding saved.")
            if contrast_with_white(saved.brand_color) < MIN_HEADER_CONTRAST:
                messages.warning(
                    request, "White text is hard to read on that colour. A darker shade will suit callers better."
                )
            return redirect("settings_profile", business_slug=business.slug)

    submitted = form["brand_color"].value() if form.is_bound else None
    preview_colour = submitted if submitted and HEX_COLOUR.match(submitted) else business.brand_color
    return render(
        request,
        "tenants/settings_profile.html",
        {
            "form": form,
            "preview_colour": preview_colour,
            "low_contrast": contrast_with_white(preview_colour) < MIN_HEADER_CONTRAST,
        },
    )


def _saved_week(business: Business) -> dict:
    return {day: [(i.opens, i.closes) for i in intervals] for day, _label, intervals in week_hours(business=business)}


def _render_hours_page(request, *, hours_form: HoursForm, holiday_form: HolidayForm, preset: str | None = None):
    business = request.business
    return render(
        request,
        "tenants/settings_hours.html",
        {
            "form": hours_form,
            "holiday_form": holiday_form,
            "holidays": upcoming_holidays(business=business),
            "status": opening_status(business=business),
            "presets": {key: preset["label"] for key, preset in WEEK_PRESETS.items()},
            "preset": WEEK_PRESETS[preset]["label"] if preset else None,
        },
    )


@role_required(*MANAGERS)
def settings_hours(request, business_slug):
    business = request.business
    holiday_form = HolidayForm(business=business)
    if request.method == "POST":
        form = HoursForm(request.POST)
        if form.is_valid():
            try:
                replace_business_hours(business=business, week=form.week)
            except ValidationError as exc:
                for weekday, errors in exc.error_dict.items():
                    form.add_error(HoursForm.field_names[int(weekday)], errors)
            else:
                messages.success(request, "Opening hours saved.")
                return redirect("settings_hours", business_slug=business.slug)
        return _render_hours_page(request, hours_form=form, holiday_form=holiday_form)

    # presets only fill the form in; nothing is saved until the owner presses Save
    preset = request.GET.get("preset")
    if preset in WEEK_PRESETS:
        form = HoursForm(week=WEEK_PRESETS[preset]["week"])
    else:
        preset = None
        form = HoursForm(week=_saved_week(business))
    return _render_hours_page(request, hours_form=form, holiday_form=holiday_form, preset=preset)


@role_required(*MANAGERS)
@require_POST
def holiday_add(request, business_slug):
    business = request.business
    form = HolidayForm(request.POST, business=business)
    if form.is_valid():
        try:
            holiday = add_holiday(business=business, date=form.cleaned_data["date"], name=form.cleaned_data["name"])
        except ValidationError as exc:
            _add_service_errors(form, exc, default_field="date")
        else:
            day = holiday.date
            label = f" ({holiday.name})" if holiday.name else ""
            messages.success(request, f"Closed all day on {day:%A} {day.day} {day:%B %Y}{label}.")
            return redirect(reverse("settings_hours", kwargs={"business_slug": business.slug}) + "#holidays")
    return _render_hours_page(request, hours_form=HoursForm(week=_saved_week(business)), holiday_form=form)


@role_required(*MANAGERS)
@require_POST
def holiday_delete(request, business_slug, holiday_id: int):
    holiday = get_object_or_404(Holiday, business=request.business, pk=holiday_id)
    delete_holiday(holiday=holiday)
    day = holiday.date
    messages.success(request, f"{day:%A} {day.day} {day:%B %Y} is no longer a holiday.")
    return redirect(reverse("settings_hours", kwargs={"business_slug": request.business.slug}) + "#holidays")
