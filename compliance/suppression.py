"""The one suppression check every outbound path goes through, inside the sending worker, under the row claim."""

from inbox.models import Contact


def suppression_reason(*, business, number: str, kind: str) -> str | None:
    """Why a message of `kind` to `number` must not be sent, or None. Team notifications go to members'
    own phones (not texts to callers) and the one opt-out confirmation goes to a number that just opted out."""
    from messaging.models import Message

    if kind in (Message.Kind.NOTIFICATION, Message.Kind.OPT_OUT_CONFIRM):
        return None
    if Contact.objects.filter(business=business, phone=number, opted_out=True).exists():
        return "opted_out"
    return None
