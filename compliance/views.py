"""Compliance pages: settings and the carrier registration checklist (managers), the opt-out review queue (every
member), and the consent ledger with its CSV export (managers). Views translate HTTP into a form check and a
call to a service, then redirect."""

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from compliance import selectors
from compliance.forms import ComplianceSettingsForm, LedgerSearchForm, ReviewForm
from compliance.models import ComplianceSettings
from compliance.review import CONFIRM, consent_review
from compliance.services import audit
from secdesk.phone import InvalidPhoneNumber, pretty, to_e164
from tenants.permissions import EVERYONE, MANAGERS, role_required


@role_required(*MANAGERS)
def compliance_settings(request, business_slug):
    business = request.business
    settings_row, _ = ComplianceSettings.objects.get_or_create(business=business)
    form = ComplianceSettingsForm(request.POST or None, instance=settings_row)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            if form.changed_data:
                audit(
                    business=business,
                    actor=request.user,
                    action="compliance.settings_update",
                    target=settings_row,
                    fields=sorted(form.changed_data),
                    textback_waits_for_quiet_hours=settings_row.textback_waits_for_quiet_hours,
                )
        messages.success(request, "Compliance settings saved.")
        return redirect("compliance_settings", business_slug=business.slug)
    return render(request, "compliance/settings.html", {"form": form})


@role_required(*MANAGERS)
@require_safe
def registration(request, business_slug):
    return render(request, "compliance/registration.html", selectors.registration_checklist(business=request.business))


@role_required(*EVERYONE)
@require_safe
def review_queue(request, business_slug):
    business = request.business
    return render(
        request,
        "compliance/review.html",
        {
            "pending": list(selectors.pending_reviews(business=business)),
            "reviewed": selectors.recently_reviewed(business=business),
        },
    )


@require_POST
@role_required(*EVERYONE)
def review_decide(request, business_slug, event_id: int):
    business = request.business
    event = selectors.pending_review_or_none(business=business, event_id=event_id)
    if event is None:
        raise Http404("No such opt-out.")
    form = ReviewForm(request.POST)
    number = pretty(event.phone) if event.phone else "this caller"
    if not form.is_valid():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        messages.error(request, f"Nothing changed for {number}: {' '.join(errors)}")
        return redirect("compliance_review", business_slug=business.slug)
    outcome = form.cleaned_data["outcome"]
    try:
        consent_review(event=event, outcome=outcome, reason=form.cleaned_data["reason"], actor=request.user)
    except ValidationError as exc:
        messages.error(request, f"Nothing changed for {number}: {' '.join(exc.messages)}")
    else:
        if outcome == CONFIRM:
            messages.success(request, f"Opt-out confirmed: {number} stays unsubscribed.")
        else:
            messages.success(request, f"{number} is restored and can be texted again.")
    return redirect("compliance_review", business_slug=business.slug)


@role_required(*MANAGERS)
@require_safe
def ledger(request, business_slug):
    business = request.business
    form = LedgerSearchForm(request.GET or None)
    number = ""
    events = None
    if form.is_bound and form.is_valid():
        number = form.cleaned_data["number"]
        if number:
            events = list(selectors.ledger_events(business=business, phone=number))
    return render(request, "compliance/ledger.html", {"form": form, "number": number, "events": events})


class _Echo:
    """A file-like object for csv.writer that hands each line straight back (for streaming)."""

    def write(self, value: str) -> str:
        return value


@role_required(*MANAGERS)
@require_safe
def ledger_csv(request, business_slug):
    """The consent ledger as CSV: the whole business, or one number (?number=, any format; matched by hash so an
    erased caller's events are listed too). Streamed, so a large ledger never sits in memory."""
    business = request.business
    raw = request.GET.get("number")
    phone = None
    if raw is not None:
        try:
            phone = to_e164(raw)
        except InvalidPhoneNumber as exc:
            return HttpResponse(
                f"{exc} Give the number in international format, e.g. ?number=%2B14155550100.\n",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
    events = selectors.ledger_events(business=business, phone=phone)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(selectors.LEDGER_COLUMNS)
        for row in selectors.ledger_rows(events):
            yield writer.writerow(row)

    stamp = timezone.now().strftime("%Y%m%d")
    scope = phone.lstrip("+") if phone else "all"
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="consent-ledger-{business.slug}-{scope}-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
