"""CSV exports of leads (conversations with their intake answers and outcome) and calls for a date range, for
owners and admins: `/app/<slug>/export/conversations.csv?from=YYYY-MM-DD&to=YYYY-MM-DD` (and `calls.csv`).

The range is whole days on the business's clock (rows created in it). Files are streamed row by row from a
server-side cursor in a constant number of queries (related rows joined, tags aggregated in a subquery), start
with a UTF-8 byte order mark so Excel reads accents and emoji right, and never hold a cell a spreadsheet would
run as a formula. Every export is an audit entry (who took which data, for which days).
"""

import csv
from collections.abc import Iterable, Iterator

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe

from compliance.services import audit
from compliance.views_privacy import csv_safe
from inbox.models import ConversationTag
from telephony.models import Call
from tenants.permissions import MANAGERS, role_required
from tenants.selectors_results import PeriodError, period_from_query, real_conversations, textback_subquery

CHUNK = 2000
BOM = "\ufeff"


class _Echo:
    """A file-like object whose write returns the line: csv.writer formats, the response streams."""

    def write(self, value: str) -> str:
        return value


def _stream(header: list[str], rows: Iterable[list], *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield BOM + writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_safe(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _bad_range(exc: PeriodError) -> HttpResponse:
    return HttpResponse(f"{exc}\n", status=400, content_type="text/plain; charset=utf-8")


def _iso(value) -> str:
    return value.isoformat() if value else ""


@role_required(*MANAGERS)
@require_safe
def export_conversations(request, business_slug):
    """One row per conversation started in the range, oldest first: the caller, status and outcome, first
    response time, tags, the intake form's answers and the last text each way."""
    business = request.business
    try:
        period = period_from_query(request.GET, business=business)
    except PeriodError as exc:
        return _bad_range(exc)
    tags = (
        ConversationTag.objects.filter(conversation=OuterRef("pk"))
        .order_by()
        .values("conversation")
        .annotate(names=StringAgg("tag__name", delimiter="; ", order_by="tag__name"))
        .values("names")
    )
    conversations = (
        real_conversations(business=business)
        .filter(created_at__gte=period.start, created_at__lt=period.end)
        .select_related("contact", "assignee", "intake_link__submission")
        .annotate(tag_names=Subquery(tags))
        .order_by("created_at", "id")
    )
    audit(
        business=business,
        action="export.conversations",
        actor=request.user,
        target_type="inbox.conversation",
        date_from=period.first.isoformat(),
        date_to=period.last.isoformat(),
    )
    local = business.local

    def rows() -> Iterator[list]:
        for conversation in conversations.iterator(chunk_size=CHUNK):
            contact = conversation.contact
            link = getattr(conversation, "intake_link", None)
            submission = getattr(link, "submission", None) if link else None
            first_response = (
                round((conversation.first_response_at - conversation.created_at).total_seconds())
                if conversation.first_response_at
                else ""
            )
            yield [
                conversation.pk,
                _iso(local(conversation.created_at)),
                contact.phone,
                contact.name or (submission.name if submission else ""),
                contact.zip_code or (submission.zip_code if submission else ""),
                conversation.status,
                conversation.priority,
                conversation.assignee.email if conversation.assignee else "",
                first_response,
                conversation.booked_value if conversation.booked_value is not None else "",
                conversation.lost_reason,
                conversation.lost_note,
                conversation.tag_names or "",
                _iso(local(link.created_at)) if link else "",
                _iso(local(link.submitted_at)) if link and link.submitted_at else "",
                submission.service_type if submission else "",
                submission.urgency if submission else "",
                submission.description if submission else "",
                submission.address if submission else "",
                submission.callback_window if submission else "",
                submission.customer_type if submission else "",
                _iso(local(conversation.last_inbound_at)) if conversation.last_inbound_at else "",
                _iso(local(conversation.last_outbound_at)) if conversation.last_outbound_at else "",
            ]

    header = [
        "conversation_id",
        "created",
        "caller_number",
        "name",
        "zip",
        "status",
        "priority",
        "assignee",
        "first_response_seconds",
        "booked_value",
        "lost_reason",
        "lost_note",
        "tags",
        "intake_link_sent",
        "intake_submitted",
        "service_type",
        "urgency",
        "description",
        "address",
        "callback_window",
        "customer_type",
        "last_inbound",
        "last_outbound",
    ]
    return _stream(header, rows(), filename=f"conversations-{business.slug}-{period.first}-{period.last}.csv")


@role_required(*MANAGERS)
@require_safe
def export_calls(request, business_slug):
    """One row per call (inbound and call backs) started in the range, oldest first, with what we decided about
    it and when its text-back reached the carrier."""
    business = request.business
    try:
        period = period_from_query(request.GET, business=business)
    except PeriodError as exc:
        return _bad_range(exc)
    calls = (
        Call.objects.filter(business=business, started_at__gte=period.start, started_at__lt=period.end)
        .select_related("phone_number", "placed_by")
        .annotate(
            textback_status=textback_subquery("status"),
            textback_sent_at=textback_subquery("sent_at"),
        )
        .order_by("started_at", "id")
    )
    audit(
        business=business,
        action="export.calls",
        actor=request.user,
        target_type="telephony.call",
        date_from=period.first.isoformat(),
        date_to=period.last.isoformat(),
    )
    local = business.local

    def rows() -> Iterator[list]:
        for call in calls.iterator(chunk_size=CHUNK):
            yield [
                call.pk,
                _iso(local(call.started_at)),
                _iso(local(call.ended_at)) if call.ended_at else "",
                call.direction,
                call.caller or call.from_raw,
                call.caller_name,
                call.caller_city,
                call.caller_state,
                call.caller_zip,
                call.phone_number.e164,
                call.status,
                call.missed_reason,
                call.decision,
                call.decision_reason,
                call.duration if call.duration is not None else "",
                call.recording_duration if call.recording_duration is not None else "",
                call.textback_status or "",
                _iso(local(call.textback_sent_at)) if call.textback_sent_at else "",
                call.placed_by.email if call.placed_by else "",
                call.conversation_id or "",
            ]

    header = [
        "call_id",
        "started",
        "ended",
        "direction",
        "caller_number",
        "caller_name",
        "caller_city",
        "caller_state",
        "caller_zip",
        "business_number",
        "status",
        "missed_reason",
        "decision",
        "decision_reason",
        "duration_seconds",
        "voicemail_seconds",
        "textback_status",
        "textback_sent",
        "called_back_by",
        "conversation_id",
    ]
    return _stream(header, rows(), filename=f"calls-{business.slug}-{period.first}-{period.last}.csv")
