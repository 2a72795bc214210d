"""The one suppression check every outbound path goes through, inside the sending worker, under the row claim."""

from compliance.services import consent_state


def suppression_reason(*, business, number: str, kind: str) -> str | None:
    """Why a message of `kind` to `number` must not be sent, or None. Reads the consent ledger (by hashed number,
    so an erased caller's opt-out still holds). Team notifications go to members' own phones (not texts to
    callers), and the one opt-out confirmation goes to a number that has just opted out."""
    from messaging.models import Message

    if kind in (Message.Kind.NOTIFICATION, Message.Kind.OPT_OUT_CONFIRM):
        return None
    return "opted_out" if consent_state(business=business, phone=number) == "opted_out" else None
