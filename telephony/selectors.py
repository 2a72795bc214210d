"""Reads for the telephony pages. Every function takes the business and reads only its rows."""

import dataclasses
import datetime as dt

import phonenumbers
from django.conf import settings
from django.db.models import F, Q, QuerySet, Value
from django.urls import NoReverseMatch

from messaging.models import Message
from secdesk import crypto
from secdesk.ttl import TTLCache
from telephony.models import BlockedNumber, Call, CarrierCredential, PhoneNumber
from telephony.webhooks import callback_url
from tenants.models import Business, Membership

CALLS_PER_PAGE = 50
SIMULATOR = "simulator"


# --- numbers, credentials, blocklist ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Insiders:
    """Numbers that belong to the business itself: a call or text from one is not a lead."""

    numbers: frozenset[str]  # its own numbers and the phones they forward to
    member_phones: frozenset[str]  # its members' phones (active or not)

    def __contains__(self, phone: str) -> bool:
        return phone in self.numbers or phone in self.member_phones


_insiders = TTLCache("TELEPHONY_CONFIG_CACHE_SECONDS")


def insiders(business_id: int) -> Insiders:
    """The business's own numbers and its members' phones, in one query, kept per process for a couple of seconds
    (TELEPHONY_CONFIG_CACHE_SECONDS) like the rest of a number's configuration: a teammate's phone saved in their
    profile is recognised that much later."""
    return _insiders.get(business_id, lambda: _load_insiders(business_id))


def _load_insiders(business_id: int) -> Insiders:
    rows = (
        PhoneNumber.objects.filter(business_id=business_id)
        .annotate(kind=Value("number"), phone=F("e164"))
        .values_list("kind", "phone")
        .union(
            PhoneNumber.objects.filter(business_id=business_id)
            .exclude(forward_to="")
            .annotate(kind=Value("number"), phone=F("forward_to"))
            .values_list("kind", "phone"),
            Membership.objects.filter(business_id=business_id)
            .exclude(user__phone="")
            .annotate(kind=Value("member"), phone=F("user__phone"))
            .values_list("kind", "phone"),
        )
    )
    found = {"number": set(), "member": set()}
    for kind, phone in rows:
        found[kind].add(phone)
    return Insiders(numbers=frozenset(found["number"]), member_phones=frozenset(found["member"]))


def numbers_for(*, business: Business) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(business=business).order_by("e164")


def number_get(*, business: Business, number_id: int) -> PhoneNumber | None:
    """The business's number with that id; None for another business's number or no such row (same answer)."""
    return PhoneNumber.objects.filter(business=business, pk=number_id).first()


def credential_for(*, business: Business, provider: str = "twilio") -> CarrierCredential | None:
    return CarrierCredential.objects.filter(business=business, provider=provider).first()


def masked_token(credential: CarrierCredential) -> str:
    """The masked token for display, or a note when it can no longer be decrypted (e.g. the key was replaced)."""
    try:
        return credential.masked_token
    except crypto.InvalidToken:
        return "cannot be read with the current encryption key: enter it again"


def platform_account_configured() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN)


def blocked_numbers_for(*, business: Business) -> QuerySet[BlockedNumber]:
    return BlockedNumber.objects.filter(business=business).order_by("-created_at")


@dataclasses.dataclass(frozen=True)
class WebhookUrl:
    label: str
    where: str  # where it goes in the Twilio console
    url: str


def twilio_webhook_urls() -> list[WebhookUrl]:
    """The URLs to paste into the Twilio console for a number. Routes that do not exist (yet) are left out."""
    wanted = [
        (
            "Voice: a call comes in",
            "Phone number > Voice configuration > A call comes in (Webhook, HTTP POST)",
            "twilio-voice",
        ),
        (
            "Voice: call status changes",
            "Phone number > Voice configuration > Call status changes (HTTP POST)",
            "twilio-voice-status",
        ),
        (
            "Messaging: a message comes in",
            "Phone number > Messaging configuration > A message comes in (Webhook, HTTP POST)",
            "twilio-sms",
        ),
        (
            "Messaging: delivery status",
            "Sent with every message we send; paste it only where Twilio asks for a "
            "status callback (e.g. a Messaging Service)",
            "twilio-sms-status",
        ),
    ]
    urls = []
    for label, where, name in wanted:
        try:
            urls.append(WebhookUrl(label=label, where=where, url=callback_url(name)))
        except NoReverseMatch:
            continue
    return urls


@dataclasses.dataclass(frozen=True)
class ForwardingCodes:
    carrier: str
    no_answer: str
    busy: str
    cancel: str


def _dialable(e164: str) -> str:
    """How a number is typed into a forwarding code: 10 digits inside the US/Canada, E.164 elsewhere."""
    parsed = phonenumbers.parse(e164, None)
    if parsed.country_code == 1:
        return str(parsed.national_number)
    return e164


def forwarding_codes(*, number: PhoneNumber) -> list[ForwardingCodes]:
    """Conditional call-forwarding codes to dial on the business's own mobile so that the calls it misses come
    to `number`. Carriers differ and change these; the page tells owners to check with theirs."""
    n = _dialable(number.e164)
    return [
        ForwardingCodes("Most GSM carriers (T-Mobile and others)", f"**61*{n}#", f"**67*{n}#", "##004#"),
        ForwardingCodes("AT&T", f"**004*{n}# (no answer, busy and unreachable at once)", "(same code)", "##004#"),
        ForwardingCodes("Verizon", f"*71{n} (no answer and busy)", "(same code)", "*73"),
    ]


# --- calls -----------------------------------------------------------------------------------------------------

CALL_FILTERS: dict[str, tuple[str, Q]] = {
    "all": ("All", Q()),
    "missed": ("Missed", Q(status=Call.Status.MISSED)),
    "answered": ("Answered", Q(status=Call.Status.ANSWERED)),
    # missed calls whose caller got no text, and why: the list an owner checks when a caller says "nobody replied"
    "not-texted": ("Missed, not texted", Q(status=Call.Status.MISSED) & ~Q(decision=Call.Decision.TEXTED)),
}


@dataclasses.dataclass(frozen=True)
class CallsPage:
    calls: list[Call]
    next_cursor: str | None  # pass as `before` for the next (older) page
    is_first: bool


def _cursor(call: Call) -> str:
    return f"{call.started_at.isoformat()}~{call.pk}"


def _parse_cursor(before: str | None) -> tuple[dt.datetime, int] | None:
    if not before or "~" not in before:
        return None
    stamp, _, pk = before.rpartition("~")
    try:
        started_at = dt.datetime.fromisoformat(stamp)
        call_pk = int(pk)
    except ValueError:
        return None
    if started_at.tzinfo is None:
        return None
    return started_at, call_pk


def calls_page(
    *, business: Business, filter_key: str = "all", before: str | None = None, per_page: int = CALLS_PER_PAGE
) -> CallsPage:
    """One page of the business's calls, newest first, in one query whatever the page size (keyset paging on
    (started_at, id), served by the (business, -started_at) index; no COUNT over a large table)."""
    _label, condition = CALL_FILTERS.get(filter_key, CALL_FILTERS["all"])
    queryset = (
        Call.objects.filter(business=business)
        .filter(condition)
        .select_related("phone_number", "contact", "conversation")
        .order_by("-started_at", "-pk")
    )
    cursor = _parse_cursor(before)
    if cursor is not None:
        started_at, call_pk = cursor
        queryset = queryset.filter(Q(started_at__lt=started_at) | Q(started_at=started_at, pk__lt=call_pk))
    rows = list(queryset[: per_page + 1])
    more = len(rows) > per_page
    calls = rows[:per_page]
    return CallsPage(calls=calls, next_cursor=_cursor(calls[-1]) if more else None, is_first=cursor is None)


# --- simulator -------------------------------------------------------------------------------------------------


def simulator_numbers(*, business: Business) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(business=business, provider=SIMULATOR).order_by("e164")


def has_simulator_number(*, business: Business) -> bool:
    return simulator_numbers(business=business).exists()


def simulated_call_get(*, business: Business, call_id: int | str | None) -> Call | None:
    """A call to one of the business's simulator numbers, or None (another business's call is never found)."""
    if not call_id or not (str(call_id).isascii() and str(call_id).isdigit()):
        return None
    return (
        Call.objects.select_related("phone_number", "contact", "conversation")
        .filter(business=business, phone_number__provider=SIMULATOR, pk=int(call_id))
        .first()
    )


def recent_simulated_calls(*, business: Business, limit: int = 5) -> list[Call]:
    return list(
        Call.objects.select_related("phone_number")
        .filter(business=business, phone_number__provider=SIMULATOR)
        .order_by("-started_at", "-pk")[:limit]
    )


def simulator_thread(*, business: Business, caller: str, number: str = "", limit: int = 50) -> list[Message]:
    """The last `limit` texts between the business's `number` (E.164; any of its numbers when blank) and `caller`
    (E.164), oldest first: the thread the caller's phone shows for that number, with each outbound text's
    delivery status. One query."""
    if not caller:
        return []
    outbound = Q(direction=Message.Direction.OUTBOUND, to_number=caller)
    inbound = Q(direction=Message.Direction.INBOUND, from_number=caller)
    if number:
        outbound &= Q(from_number=number)
        inbound &= Q(to_number=number)
    rows = (
        Message.objects.filter(business=business)
        .filter(outbound | inbound)
        .exclude(kind=Message.Kind.NOTIFICATION)
        .order_by("-created_at", "-pk")[:limit]
    )
    return list(reversed(rows))
