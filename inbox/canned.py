"""Canned replies: the text rules, filling them in for one conversation, and what the reply composer needs.

A canned reply is plain text with two optional variables, {first_name} (the caller's first name) and {business}
(the name texts go out under). The braces follow the text-back templates' rules (messaging/templating.py): plain
names only, {{ and }} for a literal brace. Inserting a reply only fills the composer: the operator reads and can
edit it before sending, so an unknown first name simply drops out ("Hi {first_name}, ..." reads "Hi, ...",
"Thanks, {first_name}!" reads "Thanks!").
"""

import re
import string

from django.core.exceptions import ValidationError

from inbox.models import CannedReply, Conversation
from messaging.segments import SegmentInfo, analyse

MAX_BODY_CHARS = 1600  # one text's limit (inbox.services.REPLY_MAX_CHARS)
MAX_CANNED_REPLIES = 50  # every reply's text travels with the composer: keep the page light on a phone
VARIABLES = {
    "first_name": "The caller's first name, when known (left out otherwise)",
    "business": "Your business's name as it appears in texts",
}
SAMPLE_FIRST_NAME = "Sam"
_BEFORE_BLANK = re.compile(r",?[ \t]*$")  # what goes with a variable that is blank


def normalise_body(body: str) -> str:
    """Line endings as LF (browsers submit CRLF; a carrier bills each CR) and outer whitespace stripped, the same
    as a reply is sent, so lengths and segment counts agree with the composer."""
    return (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _parse(body: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(string.Formatter().parse(body))


def validate_body(body: str) -> None:
    """Raise ValidationError, in words an owner understands, for an empty or too long body or a brace that is not
    one of the two variables."""
    if not body:
        raise ValidationError("Write the text of the reply.", code="required")
    if len(body) > MAX_BODY_CHARS:
        raise ValidationError(
            f"A text can be at most {MAX_BODY_CHARS} characters; this one has {len(body)}.", code="too_long"
        )
    try:
        parsed = [(field, spec, conv) for _, field, spec, conv in _parse(body) if field is not None]
    except ValueError:
        raise ValidationError(
            "Unbalanced braces: write variables like {first_name}; use {{ and }} for a brace.", code="braces"
        ) from None
    if any(spec or conv for _, spec, conv in parsed):
        raise ValidationError(
            "Variables are plain names like {first_name}, without anything after a colon or '!'.", code="format"
        )
    unknown = sorted({field for field, _, _ in parsed if field not in VARIABLES})
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        raise ValidationError(
            f"Unknown variable {names}. Canned replies can use {{first_name}} and {{business}}.", code="unknown"
        )


def render(body: str, *, first_name: str, business_name: str) -> str:
    """The body filled in. A blank value takes the spaces and a comma before it along ("Hi {first_name}, thanks"
    reads "Hi, thanks"; "Thanks, {first_name}!" reads "Thanks!"). A stored body that no longer parses is returned
    as written rather than failing the page."""
    values = {"first_name": first_name, "business": business_name}
    text = ""
    try:
        for literal, field, _spec, _conv in _parse(body):
            text += literal
            if field is None:
                continue
            value = values.get(field, "")
            if not value:
                text = _BEFORE_BLANK.sub("", text)
            text += value
    except ValueError:
        return body
    return text.strip()


def first_name_of(name: str) -> str:
    return name.split()[0] if name.strip() else ""


def preview(reply: CannedReply, *, business) -> tuple[str, SegmentInfo]:
    """How a reply reads to a caller called Sam, and its cost in segments (for the owner's list)."""
    text = render(reply.body, first_name=SAMPLE_FIRST_NAME, business_name=business.sender_name)
    return text, analyse(text)


def composer_context(*, conversation: Conversation, business, canned_id: str | None = None) -> dict:
    """What the reply composer (templates/inbox/_composer.html) needs for canned replies, in one query:
    `canned_replies` (the business's replies, each with `.text` filled in for this conversation's caller) and
    `reply_prefill` with `segment_info` (the text of reply `canned_id`, from `?canned=<id>` on the conversation
    page: the composer's fallback without JavaScript; blank when absent or not one of this business's replies).
    Reads `conversation.contact`, so load it with the conversation."""
    replies = list(CannedReply.objects.filter(business_id=conversation.business_id).only("pk", "title", "body"))
    first_name = first_name_of(conversation.contact.name)
    for reply in replies:
        reply.text = render(reply.body, first_name=first_name, business_name=business.sender_name)
    prefill = next((reply.text for reply in replies if str(reply.pk) == (canned_id or "").strip()), "")
    return {"canned_replies": replies, "reply_prefill": prefill, "segment_info": analyse(prefill)}
