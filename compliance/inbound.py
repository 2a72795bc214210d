"""Compliance keywords on every inbound message, before anything else looks at it."""

import logging

from compliance import keywords
from compliance.models import ConsentEvent
from compliance.services import audit, consent_record, consent_state

logger = logging.getLogger(__name__)

HELP_FOOTER = "Reply STOP to opt out. Msg & data rates may apply."
OPT_OUT_CONFIRMATION = "{business}: you're unsubscribed and will get no more texts from us. Reply START to resubscribe."
OPT_IN_CONFIRMATION = "{business}: you're subscribed again. Reply STOP to opt out. Msg & data rates may apply."


def help_text(business) -> str:
    own = business.help_text.strip() or "Reply here and a person will get back to you."
    return f"{business.sender_name}: {own} {HELP_FOOTER}"


def handle_keywords(*, message, number, carrier_opt_out_type: str = "") -> str:
    """Classify a newly stored inbound message and act on it inside the same transaction: opt-outs (keywords, and
    natural language flagged for review) take effect at once and fail queued texts; START/YES/UNSTOP opt back in
    only a number that was opted out; HELP/INFO are answered. A confirmation is queued only when the carrier did
    not already send one (Twilio's OptOutType, or the number's carrier_handles_keywords setting). Returns the kind."""
    from messaging.models import Message
    from messaging.services import message_queue_system_reply

    result = keywords.classify(message.body)
    business = message.business
    phone = message.from_number
    carrier_answered = bool(carrier_opt_out_type) or number.carrier_handles_keywords
    common = {
        "business": business,
        "phone": phone,
        "source_ref": message.provider_message_id or "",
        "message": message,
        "raw_text": message.body[:1600],
        "matched": result.keyword,
    }

    if result.kind in ("opt_out", "natural_opt_out"):
        already = consent_state(business=business, phone=phone) == "opted_out"
        event = consent_record(
            kind=ConsentEvent.Kind.OPT_OUT,
            review=ConsentEvent.Review.PENDING if result.needs_review else ConsentEvent.Review.NONE,
            note="Natural-language opt-out: an operator should confirm or restore it." if result.needs_review else "",
            **common,
        )
        audit(
            business=business,
            action="consent.opt_out",
            target=event,
            matched=result.keyword,
            needs_review=result.needs_review,
        )
        if not already and not carrier_answered:
            message_queue_system_reply(
                inbound=message,
                number=number,
                kind=Message.Kind.OPT_OUT_CONFIRM,
                body=OPT_OUT_CONFIRMATION.format(business=business.sender_name),
                rule="opt_out_confirmation",
            )
        return result.kind
    if result.kind == "opt_in":
        if consent_state(business=business, phone=phone) != "opted_out":
            return "none"  # YES/START from a subscribed caller is just a message
        event = consent_record(kind=ConsentEvent.Kind.OPT_IN, **common)
        audit(business=business, action="consent.opt_in", target=event, matched=result.keyword)
        if not carrier_answered:
            message_queue_system_reply(
                inbound=message,
                number=number,
                kind=Message.Kind.AUTO_HELP,
                body=OPT_IN_CONFIRMATION.format(business=business.sender_name),
                rule="opt_in_confirmation",
            )
        return result.kind
    if result.kind == "help":
        consent_record(kind=ConsentEvent.Kind.HELP, **common)
        if not carrier_answered:
            message_queue_system_reply(
                inbound=message,
                number=number,
                kind=Message.Kind.AUTO_HELP,
                body=help_text(business),
                rule="help_reply",
            )
        return result.kind
    return "none"
