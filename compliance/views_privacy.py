"""Owner pages under /app/<business_slug>/settings/: the audit log (view and CSV export), the automated-messages
export, and privacy (retention period, erasing a caller on request).

Views translate HTTP into a form check and a call to compliance.privacy, then redirect with a flash message.
The audit pages are for owners and admins; privacy is for owners only (erasure cannot be undone).
"""

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from compliance.models import AuditEvent, ComplianceSettings
from compliance.privacy import RETENTION_MAX_DAYS, RETENTION_MIN_DAYS, erase_caller, erasure_preview, retention_set
from messaging.models import Message
from secdesk.phone import InvalidPhoneNumber, pretty, to_e164
from tenants.permissions import MANAGERS, OWNERS, role_required

PAGE_SIZE = 50
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Audit actions in the business's words; anything not listed is spelt out from its code.
ACTION_LABELS = {
    "consent.opt_out": "Caller opted out",
    "consent.opt_in": "Caller opted back in",
    "consent.help": "Caller asked for help",
    "consent.review_confirm": "Opt-out confirmed after review",
    "consent.review_restore": "Opt-out reversed after review",
    "contact.erase": "Caller's data erased",
    "message.automated": "Automated message queued",
    "settings.retention": "Retention period changed",
    "retention.purge": "Old message text and recordings purged",
}
# Filter choices: the first part of an action code.
ACTION_PREFIXES = [
    ("", "All actions"),
    ("consent.", "Consent (opt-out, opt-in, review)"),
    ("message.", "Messages"),
    ("conversation.", "Conversations"),
    ("contact.", "Callers (erasure)"),
    ("settings.", "Settings"),
    ("retention.", "Retention purges"),
]


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action) or action.replace(".", ": ").replace("_", " ").capitalize()


def detail_summary(detail: dict, limit: int = 160) -> str:
    """A one-line reading of an audit entry's detail; hashes and empty values are left to the CSV."""
    parts = [
        f"{key.replace('_', ' ')}: {value}"
        for key, value in (detail or {}).items()
        if value not in (None, "", [], {}) and not key.endswith("_hash")
    ]
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def csv_safe(value) -> str:
    """A cell a spreadsheet will not run as a formula. Phone numbers ("+1415...") and negative numbers stay as
    they are; anything else starting with = + - @ or a control character gets a leading apostrophe."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        if text[0] in "+-" and text[1:].replace(".", "", 1).isdigit():
            return text
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(rows: Iterator[list], *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([csv_safe(cell) for cell in row]) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --- audit log ---------------------------------------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(choices=ACTION_PREFIXES, required=False, label="What")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise ValidationError("The “From” date is after the “To” date.")
        return cleaned


def _date_range(queryset: QuerySet, form: AuditFilterForm, business, field: str = "created_at") -> QuerySet:
    """Whole days on the business's clock: From 00:00 to the end of To."""
    if not form.is_valid():
        return queryset
    if form.cleaned_data.get("date_from"):
        start = dt.datetime.combine(form.cleaned_data["date_from"], dt.time.min, tzinfo=business.tz)
        queryset = queryset.filter(**{f"{field}__gte": start})
    if form.cleaned_data.get("date_to") and form.cleaned_data["date_to"] < dt.date.max:
        end = dt.datetime.combine(form.cleaned_data["date_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=business.tz)
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def _audit_events(business, form: AuditFilterForm) -> QuerySet:
    events = AuditEvent.objects.filter(business=business).select_related("actor").order_by("-created_at", "-id")
    if form.is_valid() and form.cleaned_data.get("action"):
        events = events.filter(action__startswith=form.cleaned_data["action"])
    return _date_range(events, form, business)


def _encode_cursor(event: AuditEvent) -> str:
    delta = event.created_at - EPOCH
    return f"{(delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds}-{event.pk}"


def _decode_cursor(raw: str) -> tuple[dt.datetime, int] | None:
    try:
        micros, pk = (int(part) for part in raw.split("-", 1))
        return EPOCH + dt.timedelta(microseconds=micros), pk
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class AuditRow:
    who: str
    action: str
    action_code: str
    target: str
    at: dt.datetime
    summary: str


def _row(event: AuditEvent, business) -> AuditRow:
    target_type = event.target_type.rsplit(".", 1)[-1].replace("_", " ")
    return AuditRow(
        who=event.actor.display_name if event.actor else "System",
        action=action_label(event.action),
        action_code=event.action,
        target=f"{target_type} {event.target_id}".strip(),
        at=business.local(event.created_at),
        summary=detail_summary(event.detail),
    )


@role_required(*MANAGERS)
@require_safe
def audit_log(request, business_slug):
    """Newest first, 50 a page, keyset pagination (`?before=<cursor>`): one query per page however deep."""
    business = request.business
    form = AuditFilterForm(request.GET or None)
    events = _audit_events(business, form)
    cursor = _decode_cursor(request.GET.get("before", ""))
    if cursor:
        at, pk = cursor
        events = events.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
    page = list(events[: PAGE_SIZE + 1])
    has_more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    query = request.GET.copy()
    query.pop("before", None)
    next_query = None
    if has_more:
        query["before"] = _encode_cursor(page[-1])
        next_query = query.urlencode()
        query.pop("before")
    return render(
        request,
        "compliance/audit.html",
        {
            "form": form,
            "rows": [_row(event, business) for event in page],
            "next_query": next_query,
            "first_page_query": query.urlencode() if cursor else None,
            "filter_query": query.urlencode(),
        },
    )


@role_required(*MANAGERS)
@require_safe
def audit_export(request, business_slug):
    """Every audit entry matching the page's filters, oldest first, all columns."""
    business = request.business
    form = AuditFilterForm(request.GET or None)
    events = _audit_events(business, form).order_by("created_at", "id")

    def rows():
        yield [
            "time",
            "time_utc",
            "actor_email",
            "actor_name",
            "action",
            "action_description",
            "target_type",
            "target_id",
            "detail",
        ]
        for event in events.iterator(chunk_size=2000):
            yield [
                business.local(event.created_at).isoformat(),
                event.created_at.astimezone(dt.UTC).isoformat(),
                event.actor.email if event.actor else "",
                event.actor.display_name if event.actor else "System",
                event.action,
                action_label(event.action),
                event.target_type,
                event.target_id,
                json.dumps(event.detail, sort_keys=True, default=str),
            ]

    return _csv_response(rows(), filename=f"audit-{business.slug}-{timezone.localdate():%Y-%m-%d}.csv")


@role_required(*MANAGERS)
@require_safe
def automated_messages_export(request, business_slug):
    """Every outbound message with what triggered it (rule, person or system), oldest first; the audit page's
    date filter applies."""
    business = request.business
    form = AuditFilterForm(request.GET or None)
    outbound = Message.objects.filter(business=business, direction=Message.Direction.OUTBOUND)
    outbound = _date_range(outbound, form, business).select_related("sent_by").order_by("created_at", "id")

    def rows():
        yield [
            "created",
            "created_utc",
            "message_id",
            "kind",
            "trigger",
            "trigger_detail",
            "sent_by",
            "from",
            "to",
            "status",
            "error",
            "conversation_id",
        ]
        for message in outbound.iterator(chunk_size=2000):
            yield [
                business.local(message.created_at).isoformat(),
                message.created_at.astimezone(dt.UTC).isoformat(),
                message.pk,
                message.kind,
                message.trigger,
                message.trigger_detail,
                message.sent_by.email if message.sent_by else "",
                message.from_number,
                message.to_number,
                message.status,
                message.error_message,
                message.conversation_id or "",
            ]

    return _csv_response(rows(), filename=f"messages-{business.slug}-{timezone.localdate():%Y-%m-%d}.csv")


# --- privacy: retention and erasure -------------------------------------------------------------------------------


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(
        required=False,
        min_value=RETENTION_MIN_DAYS,
        max_value=RETENTION_MAX_DAYS,
        label="Keep message text and call recordings for (days)",
        help_text=f"Leave empty to keep them. Otherwise {RETENTION_MIN_DAYS} to {RETENTION_MAX_DAYS} days; older "
        "text and recordings are removed every night. Opt-out records and the audit log are always kept.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "Keep"}),
    )


class EraseLookupForm(forms.Form):
    phone = forms.CharField(
        max_length=40,
        label="Caller's number",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off", "placeholder": "(415) 555-0100"}),
    )

    def __init__(self, *args, business, **kwargs):
        self.business = business
        self.preview = None
        super().__init__(*args, **kwargs)

    def clean_phone(self) -> str:
        try:
            phone = to_e164(self.cleaned_data["phone"])
        except InvalidPhoneNumber as error:
            raise ValidationError(str(error)) from None
        self.preview = erasure_preview(business=self.business, phone=phone)
        if not self.preview.total:
            raise ValidationError(f"{pretty(phone)} has no messages, calls or contact record in this business.")
        return phone


class EraseConfirmForm(forms.Form):
    phone = forms.CharField(max_length=40, widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label="I understand this permanently deletes this caller's messages, conversations and recordings.",
        error_messages={"required": "Tick the box to confirm."},
    )
    reason = forms.CharField(
        max_length=300,
        label="Reason",
        help_text="E.g. “Caller asked by email on 3 May”. Kept in the audit log; no names or numbers, please.",
        error_messages={"required": "Say why, for the audit log."},
    )

    def clean_phone(self) -> str:
        try:
            return to_e164(self.cleaned_data["phone"])
        except InvalidPhoneNumber as error:
            raise ValidationError(str(error)) from None


def _privacy_context(business, retention_form: RetentionForm | None = None) -> dict:
    current = ComplianceSettings.objects.filter(business=business).values_list("retention_days", flat=True).first()
    return {
        "retention_days": current,
        "retention_form": retention_form or RetentionForm(initial={"retention_days": current}),
        "lookup_form": EraseLookupForm(business=business),
    }


@role_required(*OWNERS)
@require_http_methods(["GET", "HEAD", "POST"])
def privacy(request, business_slug):
    """The privacy page: the retention period (POST saves it) and the way in to erasing a caller."""
    business = request.business
    if request.method == "POST":
        form = RetentionForm(request.POST)
        if form.is_valid():
            days = form.cleaned_data["retention_days"]
            retention_set(business=business, retention_days=days, actor=request.user)
            messages.success(
                request,
                f"Message text and recordings are now kept for {days} days." if days else "Everything is kept.",
            )
            return redirect("settings_privacy", business_slug=business.slug)
        return render(request, "compliance/erase_privacy.html", _privacy_context(business, form), status=400)
    return render(request, "compliance/erase_privacy.html", _privacy_context(business))


@role_required(*OWNERS)
@require_http_methods(["GET", "HEAD", "POST"])
def privacy_erase(request, business_slug):
    """Erase a caller in two steps: look the number up (shows what would go), then confirm with a reason."""
    business = request.business
    if request.method != "POST":
        return render(request, "compliance/erase.html", {"form": EraseLookupForm(business=business)})

    if request.POST.get("step") != "confirm":
        lookup = EraseLookupForm(request.POST, business=business)
        if not lookup.is_valid():
            return render(request, "compliance/erase.html", {"form": lookup}, status=400)
        phone = lookup.cleaned_data["phone"]
        return render(
            request,
            "compliance/erase_confirm.html",
            {"form": EraseConfirmForm(initial={"phone": phone}), "preview": lookup.preview, "pretty": pretty(phone)},
        )

    form = EraseConfirmForm(request.POST)
    if not form.is_valid():
        if "phone" in form.errors:
            lookup = EraseLookupForm(business=business)
            messages.error(request, "That number could not be read. Please enter it again.")
            return render(request, "compliance/erase.html", {"form": lookup}, status=400)
        phone = form.cleaned_data["phone"]
        return render(
            request,
            "compliance/erase_confirm.html",
            {"form": form, "preview": erasure_preview(business=business, phone=phone), "pretty": pretty(phone)},
            status=400,
        )
    phone = form.cleaned_data["phone"]
    report = erase_caller(business=business, phone=phone, actor=request.user, reason=form.cleaned_data["reason"])
    if report.total:
        messages.success(
            request,
            f"Caller erased: {report.messages} messages, {report.conversations} conversations, "
            f"{report.media_files} media files and {report.recordings} recordings. {report.calls} calls are kept "
            "without the caller's details; an opt-out is still honoured.",
        )
    else:
        messages.warning(request, "There was nothing left to erase for that number.")
    return redirect("settings_privacy", business_slug=business.slug)
