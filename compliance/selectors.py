"""Reads for the compliance pages: the review queue, the consent ledger and the carrier registration checklist.
Every query is scoped to one business."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from compliance.models import ComplianceSettings, ConsentEvent, number_hash

DEFAULT_OPT_IN_DESCRIPTION = (
    "The consumer calls {business}; if the call is missed they receive one text from the business's number about "
    "their call. They can reply STOP to opt out or HELP for help."
)
DEFAULT_CAMPAIGN_DESCRIPTION = (
    "Missed-call text-back: when a customer calls {business} and nobody can answer, the customer gets one text "
    "from the number they called, and can reply to reach a person about their call. No marketing."
)


def compliance_settings_of(*, business) -> ComplianceSettings:
    """The business's compliance settings, or unsaved defaults when it has none yet (reads never create rows)."""
    try:
        return ComplianceSettings.objects.get(business=business)
    except ComplianceSettings.DoesNotExist:
        return ComplianceSettings(business=business)


def pending_reviews(*, business):
    """Natural-language opt-outs waiting for an operator, oldest first (served by consent_business_review_idx)."""
    return (
        ConsentEvent.objects.filter(business=business, review=ConsentEvent.Review.PENDING)
        .select_related("message")
        .order_by("created_at", "id")
    )


def pending_review_or_none(*, business, event_id: int) -> ConsentEvent | None:
    """A consent event of this business, or None (another business's event looks the same as a missing one)."""
    return ConsentEvent.objects.filter(business=business, pk=event_id).first()


def recently_reviewed(*, business, limit: int = 10) -> list[ConsentEvent]:
    return list(
        ConsentEvent.objects.filter(
            business=business, review__in=(ConsentEvent.Review.CONFIRMED, ConsentEvent.Review.RESTORED)
        )
        .select_related("reviewed_by")
        .order_by("-reviewed_at", "-id")[:limit]
    )


def ledger_events(*, business, phone: str | None = None):
    """The consent ledger in time order, with what the CSV needs joined in. With `phone` (E.164), only that
    number's events, matched by hash so an erased caller's events still show."""
    events = ConsentEvent.objects.filter(business=business)
    if phone is not None:
        events = events.filter(phone_hash=number_hash(business.pk, phone))
    return events.select_related("actor", "reviewed_by", "call", "message").order_by("created_at", "id")


LEDGER_COLUMNS = (
    "time_utc",
    "number",
    "number_hash",
    "kind",
    "source_ref",
    "call_id",
    "message_id",
    "raw_text",
    "matched",
    "disclosure_text",
    "actor_email",
    "note",
    "review",
    "reviewed_by",
    "reviewed_at_utc",
    "review_reason",
)


def _utc(value) -> str:
    return value.astimezone(dt.UTC).isoformat() if value else ""


def ledger_rows(events) -> Iterator[list[str]]:
    """One CSV row per event, in LEDGER_COLUMNS order. Times are UTC ISO 8601 (the database stores UTC)."""
    for event in events.iterator(chunk_size=1000):
        yield [
            _utc(event.created_at),
            event.phone,
            event.phone_hash,
            event.kind,
            event.source_ref,
            event.call.provider_call_id if event.call else "",
            (event.message.provider_message_id or f"message:{event.message.pk}") if event.message else "",
            event.raw_text,
            event.matched,
            event.disclosure_text,
            event.actor.email if event.actor else "",
            event.note,
            event.review,
            event.reviewed_by.email if event.reviewed_by else "",
            _utc(event.reviewed_at),
            event.review_reason,
        ]


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    needed: bool  # required for this business's registration
    hint: str = ""

    @property
    def missing(self) -> bool:
        return self.needed and not self.value


@dataclass(frozen=True)
class SampleMessage:
    label: str
    body: str
    segments: int = 1


def registration_facts(*, settings_row: ComplianceSettings) -> tuple[list[Fact], list[Fact]]:
    """Brand facts and campaign facts as the carrier registration forms ask for them."""
    s = settings_row
    is_company = s.business_type != ComplianceSettings.BusinessType.SOLE_PROPRIETOR
    brand = [
        Fact("Legal business name", s.legal_name, True, "Exactly as on your tax registration."),
        Fact("Business type", s.get_business_type_display() if s.business_type else "", True),
        Fact("EIN (tax ID)", s.ein, is_company, "Companies only; sole proprietors register without one."),
        Fact("Business address", s.address, True),
        Fact("Website", s.website, True, "A public page that shows your business name."),
        Fact("Contact email", s.contact_email, True),
    ]
    campaign = [
        Fact("Use case", "Customer care (missed-call text-back)", True),
        Fact(
            "Campaign description",
            "Yours (below)" if s.campaign_description.strip() else "Our suggestion (below)",
            True,
        ),
        Fact("Opt-in description", "Yours (below)" if s.opt_in_description.strip() else "Our suggestion (below)", True),
    ]
    return brand, campaign


def sample_messages(*, business) -> list[SampleMessage]:
    """The texts this business actually sends, rendered from its own templates, for the campaign's samples."""
    from compliance.inbound import OPT_IN_CONFIRMATION, OPT_OUT_CONFIRMATION, help_text
    from messaging import templating
    from messaging.services import textback_settings_for

    config = textback_settings_for(business)
    context = templating.template_context(business=business, contact_name="Sam Rivera")
    samples = []
    for label, template in (
        ("Text-back while you are open", config.open_template),
        ("Text-back while you are closed", config.closed_template),
    ):
        try:
            rendered = templating.render(template, context, opt_out_footer=True)
        except templating.TemplateError:
            continue  # an invalid saved template cannot be sent either; the templates page explains it
        samples.append(SampleMessage(label, rendered.body, rendered.segments))
    samples.append(SampleMessage("Reply to HELP or INFO", help_text(business)))
    samples.append(
        SampleMessage(
            "Reply to STOP (opt-out confirmation)", OPT_OUT_CONFIRMATION.format(business=business.sender_name)
        )
    )
    samples.append(
        SampleMessage("Reply to START (opt back in)", OPT_IN_CONFIRMATION.format(business=business.sender_name))
    )
    return samples


def keyword_replies(*, business) -> list[tuple[str, str]]:
    """The keyword table the campaign form asks for: keywords and the reply each gets."""
    from compliance.inbound import OPT_IN_CONFIRMATION, OPT_OUT_CONFIRMATION, help_text

    name = business.sender_name
    return [
        ("STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT", OPT_OUT_CONFIRMATION.format(business=name)),
        ("HELP, INFO", help_text(business)),
        ("START, YES, UNSTOP", OPT_IN_CONFIRMATION.format(business=name)),
    ]


def unregistered_numbers(*, business) -> list:
    from telephony.models import PhoneNumber

    return list(PhoneNumber.objects.filter(business=business, a2p_registered=False).order_by("e164"))


def registration_checklist(*, business) -> dict:
    """Everything the registration page shows, in one place."""
    settings_row = compliance_settings_of(business=business)
    brand, campaign = registration_facts(settings_row=settings_row)
    name = business.sender_name
    opt_in = settings_row.opt_in_description.strip() or DEFAULT_OPT_IN_DESCRIPTION.format(business=name)
    campaign_text = settings_row.campaign_description.strip() or DEFAULT_CAMPAIGN_DESCRIPTION.format(business=name)
    missing = [f for f in brand + campaign if f.missing]
    return {
        "settings_row": settings_row,
        "brand_facts": brand,
        "campaign_facts": campaign,
        "missing_facts": missing,
        "opt_in_description": opt_in,
        "opt_in_is_default": not settings_row.opt_in_description.strip(),
        "campaign_description": campaign_text,
        "campaign_is_default": not settings_row.campaign_description.strip(),
        "samples": sample_messages(business=business),
        "keyword_replies": keyword_replies(business=business),
        "unregistered_numbers": unregistered_numbers(business=business),
    }
