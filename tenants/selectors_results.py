"""Reads for the results dashboard and the CSV exports: what the missed-call flow did for a business over a date
range, against the period of the same length just before it.

Every figure is an SQL aggregate over one business's rows, in a fixed number of queries whatever the volume:
one over calls (counts and text-back latency percentiles for both periods), one each for the reason and
hour-by-weekday charts, one over conversations (funnel, rates, first response, bookings for both periods), and
one each over text-backs and opt-outs for the opt-out rate. Percentiles use PostgreSQL's `percentile_cont`.

Figures leave out the owner's "Test the escalation" runs (the reserved test caller and the "Test" tag, see
inbox.escalation), which are real texts but never real leads.
"""

import dataclasses
import datetime as dt
from decimal import Decimal

from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    Exists,
    F,
    FloatField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Concat, Extract, ExtractHour, ExtractIsoWeekDay
from django.utils import timezone

from compliance.models import ConsentEvent
from inbox.escalation import TEST_CALLER_PHONE, TEST_TAG
from inbox.models import Conversation, ConversationTag
from messaging.models import Message
from telephony.models import Call
from tenants.models import Business

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366  # a year and a leap day: longer ranges are slow to export and useless on one chart
SEND_BOUND_DAYS = 2
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class PeriodError(ValueError):
    """A date range the caller must fix; the message says how, in plain words."""


@dataclasses.dataclass(frozen=True)
class Period:
    """Whole days on the business's clock, `first` to `last` inclusive."""

    first: dt.date
    last: dt.date
    tz: dt.tzinfo

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time.min, tzinfo=self.tz)

    @property
    def end(self) -> dt.datetime:
        """Exclusive: midnight after `last`."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time.min, tzinfo=self.tz)

    def previous(self) -> "Period":
        """The period of the same length that ends the day before this one starts."""
        last = self.first - dt.timedelta(days=1)
        return Period(first=last - dt.timedelta(days=self.days - 1), last=last, tz=self.tz)


def _parse_date(raw: str, label: str) -> dt.date:
    try:
        value = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise PeriodError(f"The “{label}” date {raw[:20]!r} is not a date like 2026-03-31.") from None
    if not 2000 <= value.year <= 2100:  # and the previous period, a day past the end, stay representable
        raise PeriodError(f"The “{label}” date must be between 2000 and 2100.")
    return value


def period_from_query(params, *, business: Business, today: dt.date | None = None) -> Period:
    """The range a dashboard or export URL asks for: `?days=7|30|90`, or `?from=YYYY-MM-DD&to=YYYY-MM-DD`
    (either side may be left out: from defaults to 30 days before to, to to today). Nothing means the last 30
    days. Raises PeriodError for a malformed, reversed or over-long range."""
    today = today or timezone.now().astimezone(business.tz).date()
    raw_from, raw_to = params.get("from", "").strip(), params.get("to", "").strip()
    if raw_from or raw_to:
        last = _parse_date(raw_to, "To") if raw_to else today
        first = _parse_date(raw_from, "From") if raw_from else last - dt.timedelta(days=DEFAULT_DAYS - 1)
        if last < first:
            raise PeriodError("The “To” date is before the “From” date.")
        if (last - first).days + 1 > MAX_DAYS:
            raise PeriodError(f"Pick a range of at most {MAX_DAYS} days.")
        return Period(first=first, last=last, tz=business.tz)
    raw_days = params.get("days", "")
    days = DEFAULT_DAYS
    if raw_days:
        if not (raw_days.isascii() and raw_days.isdigit()) or int(raw_days) not in PRESETS:
            raise PeriodError(f"Pick the last {', '.join(map(str, PRESETS))} days or a custom range.")
        days = int(raw_days)
    return Period(first=today - dt.timedelta(days=days - 1), last=today, tz=business.tz)


# --- SQL helpers ------------------------------------------------------------------------------------------------


class Percentile(Aggregate):
    """`percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)`: PostgreSQL's interpolated percentile, as an
    aggregate (so `filter=` becomes `FILTER (WHERE ...)`)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _seconds(later: str, earlier: str) -> Extract:
    """Seconds between two timestamp columns (epoch of the interval)."""
    return Extract(F(later) - F(earlier), "epoch", output_field=FloatField())


def textback_subquery(field: str) -> Subquery:
    """A column of the call's text-back message. The text-back's unique idempotency key is "textback:<call id>"
    (messaging.services.message_queue_textback), so this is one unique-index lookup per call."""
    return Subquery(
        Message.objects.filter(
            business_id=OuterRef("business_id"),
            idempotency_key=Concat(Value("textback:"), OuterRef("provider_call_id")),
        ).values(field)[:1],
        output_field=DateTimeField() if field.endswith("_at") else None,
    )


def missed_calls(*, business: Business) -> QuerySet:
    """A business's missed inbound calls, without the reserved test caller."""
    return Call.objects.filter(business=business, direction=Call.Direction.INBOUND, status=Call.Status.MISSED).exclude(
        caller=TEST_CALLER_PHONE
    )


def real_conversations(*, business: Business) -> QuerySet:
    """A business's conversations, without escalation test runs (test caller or "Test" tag)."""
    test_tag = ConversationTag.objects.filter(conversation=OuterRef("pk"), tag__name__iexact=TEST_TAG)
    return (
        Conversation.objects.filter(business=business)
        .exclude(contact__phone=TEST_CALLER_PHONE)
        .exclude(Exists(test_tag))
    )


# --- the figures --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Figures:
    """The headline numbers of one period. Rates are fractions (0..1) or None when nothing was there to count."""

    missed: int
    texted: int  # conversations whose text-back the carrier accepted
    replied: int  # ... of which the caller texted after the text-back
    links_sent: int  # ... of which had an intake link (sent in the text-back)
    intake_submitted: int  # ... of which the caller submitted the intake form
    texted_booked: int  # ... of which were booked
    booked: int  # all conversations started in the period and booked
    revenue: Decimal
    latency_p50: float | None  # seconds, missed-call time to carrier acceptance of the text-back
    latency_p95: float | None
    first_response_median: float | None  # seconds, conversation start to the first human response
    numbers_texted: int
    opted_out: int

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.texted if self.texted else None

    @property
    def intake_rate(self) -> float | None:
        return self.intake_submitted / self.links_sent if self.links_sent else None

    @property
    def opt_out_rate(self) -> float | None:
        return self.opted_out / self.numbers_texted if self.numbers_texted else None


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str
    value: int
    fraction: float  # of the largest bar, for drawing


@dataclasses.dataclass(frozen=True)
class Results:
    period: Period
    previous_period: Period
    current: Figures
    previous: Figures
    by_reason: list[Bar]
    by_hour: list[Bar]
    by_weekday: list[Bar]
    funnel: list[Bar]


def _bars(pairs: list[tuple[str, int]]) -> list[Bar]:
    top = max((value for _, value in pairs), default=0)
    return [Bar(label=label, value=value, fraction=value / top if top else 0.0) for label, value in pairs]


def _periods_q(field: str, current: Period, previous: Period) -> tuple[Q, Q]:
    return (
        Q(**{f"{field}__gte": current.start, f"{field}__lt": current.end}),
        Q(**{f"{field}__gte": previous.start, f"{field}__lt": previous.end}),
    )


def _call_figures(business: Business, current: Period, previous: Period) -> dict:
    """One query: missed and texted counts and the text-back latency percentiles for both periods.

    Latency runs from `Call.ended_at` to the text-back's `Message.sent_at`. `ended_at` is stamped when the call
    becomes missed (telephony.services._register_missed, in the same transaction that queues the text, and
    before the voicemail starts), so it is the moment the caller was let down; `sent_at` is when the carrier
    accepted the text. The business's own text-back delay, if any, is part of the figure on purpose: it is what
    the caller waits."""
    cur, prev = _periods_q("started_at", current, previous)
    sent = Q(textback_sent_at__isnull=False, ended_at__isnull=False)
    latency = _seconds("textback_sent_at", "ended_at")
    row = (
        missed_calls(business=business)
        .filter(started_at__gte=previous.start, started_at__lt=current.end)
        .annotate(textback_sent_at=textback_subquery("sent_at"))
        .aggregate(
            missed=Count("id", filter=cur),
            missed_prev=Count("id", filter=prev),
            p50=Percentile(latency, 0.5, filter=cur & sent),
            p95=Percentile(latency, 0.95, filter=cur & sent),
            p50_prev=Percentile(latency, 0.5, filter=prev & sent),
            p95_prev=Percentile(latency, 0.95, filter=prev & sent),
        )
    )
    return row


def _conversation_figures(business: Business, current: Period, previous: Period) -> dict:
    """One query over the conversations started in either period: the funnel after the missed call, intake
    completion, time to first human response, bookings and revenue."""
    cur, prev = _periods_q("created_at", current, previous)

    def first_textback(conversation_ref):
        """When the conversation's first text-back that reached the carrier was queued (None: never texted)."""
        return Subquery(
            Message.objects.filter(
                business=business, conversation=conversation_ref, kind=Message.Kind.TEXTBACK, sent_at__isnull=False
            )
            .order_by()
            .values("conversation")
            .annotate(at=Min("created_at"))
            .values("at")[:1],
            output_field=DateTimeField(),
        )

    # a reply is a text from the caller after the text-back (one sent before it, e.g. while ringing, is not)
    # `business` first in every message filter: the thread index (message_thread_idx) starts with it
    reply = Message.objects.filter(
        business=business,
        conversation=OuterRef("pk"),
        direction=Message.Direction.INBOUND,
        created_at__gt=first_textback(OuterRef(OuterRef("pk"))),
    )
    conversations = (
        real_conversations(business=business)
        .filter(created_at__gte=previous.start, created_at__lt=current.end)
        .annotate(first_textback_at=first_textback(OuterRef("pk")), has_reply=Exists(reply))
    )
    texted = Q(first_textback_at__isnull=False)
    replied = texted & Q(has_reply=True)
    link = texted & Q(intake_link__isnull=False)
    submitted = texted & Q(intake_link__submitted_at__isnull=False)
    booked = Q(status=Conversation.Status.BOOKED)
    responded = Q(first_response_at__isnull=False)
    first_response = _seconds("first_response_at", "created_at")
    aggregates = {}
    for suffix, when in (("", cur), ("_prev", prev)):
        aggregates |= {
            f"texted{suffix}": Count("id", filter=when & texted),
            f"replied{suffix}": Count("id", filter=when & replied),
            f"links{suffix}": Count("id", filter=when & link),
            f"submitted{suffix}": Count("id", filter=when & submitted),
            f"texted_booked{suffix}": Count("id", filter=when & texted & booked),
            f"booked{suffix}": Count("id", filter=when & booked),
            f"revenue{suffix}": Sum("booked_value", filter=when & booked),
            f"first_response{suffix}": Percentile(first_response, 0.5, filter=when & responded),
        }
    return conversations.aggregate(**aggregates)


def _opt_out_figures(business: Business, current: Period, previous: Period) -> dict:
    """Two queries: distinct numbers a text-back went to (by carrier acceptance time) and distinct numbers that
    opted out (STOP and the like, or the carrier reporting an opt-out), per period."""
    cur, prev = _periods_q("sent_at", current, previous)
    texted = (
        Message.objects.filter(
            business=business,
            kind=Message.Kind.TEXTBACK,
            sent_at__gte=previous.start,
            sent_at__lt=current.end,
            # a bound on the indexed column (message_business_created_idx): a text-back reaches the carrier within
            # seconds of being queued, or after the sweeper's retries, never days later
            created_at__gte=previous.start - dt.timedelta(days=SEND_BOUND_DAYS),
            created_at__lt=current.end,
        )
        .exclude(to_number=TEST_CALLER_PHONE)
        .aggregate(
            numbers=Count("to_number", distinct=True, filter=cur),
            numbers_prev=Count("to_number", distinct=True, filter=prev),
        )
    )
    cur, prev = _periods_q("created_at", current, previous)
    # phone_hash, not phone: an erased caller's opt-out still counts
    opted = (
        ConsentEvent.objects.filter(
            business=business,
            kind__in=ConsentEvent.OPTED_OUT_KINDS,
            created_at__gte=previous.start,
            created_at__lt=current.end,
        )
        .exclude(phone=TEST_CALLER_PHONE)
        .aggregate(
            opted=Count("phone_hash", distinct=True, filter=cur),
            opted_prev=Count("phone_hash", distinct=True, filter=prev),
        )
    )
    return texted | opted


def _figures(calls: dict, conversations: dict, opt_outs: dict, suffix: str) -> Figures:
    return Figures(
        missed=calls[f"missed{suffix}"],
        texted=conversations[f"texted{suffix}"],
        replied=conversations[f"replied{suffix}"],
        links_sent=conversations[f"links{suffix}"],
        intake_submitted=conversations[f"submitted{suffix}"],
        texted_booked=conversations[f"texted_booked{suffix}"],
        booked=conversations[f"booked{suffix}"],
        revenue=conversations[f"revenue{suffix}"] or Decimal("0.00"),
        latency_p50=calls[f"p50{suffix}"],
        latency_p95=calls[f"p95{suffix}"],
        first_response_median=conversations[f"first_response{suffix}"],
        numbers_texted=opt_outs[f"numbers{suffix}"],
        opted_out=opt_outs[f"opted{suffix}"],
    )


def results_for(*, business: Business, period: Period) -> Results:
    """The dashboard's figures and charts for `period` and the headline figures of the period before it.
    Six queries, whatever the number of calls."""
    previous = period.previous()
    calls = _call_figures(business, period, previous)
    conversations = _conversation_figures(business, period, previous)
    opt_outs = _opt_out_figures(business, period, previous)
    in_period = missed_calls(business=business).filter(started_at__gte=period.start, started_at__lt=period.end)

    reasons = dict(Call.MissedReason.choices)
    by_reason = sorted(
        (
            (reasons.get(row["missed_reason"], row["missed_reason"] or "Unknown"), row["n"])
            for row in in_period.order_by().values("missed_reason").annotate(n=Count("id"))
        ),
        key=lambda pair: (-pair[1], pair[0]),
    )
    hours = [0] * 24
    weekdays = [0] * 7
    hour_day = (
        in_period.order_by()
        .annotate(
            hour=ExtractHour("started_at", tzinfo=business.tz),
            weekday=ExtractIsoWeekDay("started_at", tzinfo=business.tz),
        )
        .values("hour", "weekday")
        .annotate(n=Count("id"))
    )
    for row in hour_day:
        hours[row["hour"]] += row["n"]
        weekdays[row["weekday"] - 1] += row["n"]

    current = _figures(calls, conversations, opt_outs, "")
    return Results(
        period=period,
        previous_period=previous,
        current=current,
        previous=_figures(calls, conversations, opt_outs, "_prev"),
        by_reason=_bars(by_reason),
        by_hour=_bars([(f"{hour:02d}", n) for hour, n in enumerate(hours)]),
        by_weekday=_bars(list(zip(WEEKDAYS, weekdays, strict=True))),
        funnel=_bars(
            [
                ("Missed calls", current.missed),
                ("Texted back", current.texted),
                ("Replied", current.replied),
                ("Intake form sent in", current.intake_submitted),
                ("Booked", current.texted_booked),
            ]
        ),
    )
