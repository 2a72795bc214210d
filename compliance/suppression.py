"""The one suppression check every outbound path goes through, inside the sending worker, under the row claim."""

from compliance.services import consent_state_by_id


def suppression_reason(*, business_id: int, number: str, kind: str) -> str | None:
    """Why a message of `kind` to `number` must not be sent, or None. Reads the consent ledger (by hashed number,
    so an erased caller's opt-out still holds). The one opt-out confirmation goes to a number that has just opted
    out. Team notifications to a member's own phone obey the ledger too: every opt-out in it came from that phone
    (a STOP it sent, or the carrier reporting one), so it is the member's own and they get no alert texts until
    they reply START; nothing else about callers ever blocks them."""
    from messaging.models import Message

    if kind == Message.Kind.OPT_OUT_CONFIRM:
        return None
    return "opted_out" if consent_state_by_id(business_id=business_id, phone=number) == "opted_out" else None
