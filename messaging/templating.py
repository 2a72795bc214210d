"""Text-back templates: a small, safe variable syntax owners can write ({business}, {first_name}, ...)."""

import datetime as dt
import re
import string
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from messaging.segments import analyse

MAX_TEMPLATE_CHARS = 1600
OPT_OUT_FOOTER = "Reply STOP to opt out."
VARIABLES = {
    "business": "Your business's name as it appears in texts",
    "first_name": "The caller's first name, when known (blank otherwise)",
    "intake_link": "The caller's own short link to a 30-second form about the job",
    "booking_link": "Your online booking page",
    "hours_today": "Today's opening hours, e.g. 8:00 AM-5:00 PM",
    "next_opening": "When you next open, e.g. Monday 8:00 AM",
}
DEFAULT_OPEN = (
    "Hi, this is {business}, sorry we missed your call! What can we help with? "
    "Tell us here: {intake_link} or just reply."
)
DEFAULT_CLOSED = (
    "Hi, this is {business}, sorry we missed your call. We're closed now and open {next_opening}. "
    "Tell us what you need: {intake_link} or just reply."
)


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Rendered:
    body: str
    encoding: str
    segments: int


def validate_template(text: str) -> list[str]:
    """The variables a template uses. Raises TemplateError with a message an owner understands."""
    if not text.strip():
        raise TemplateError("The template is empty.")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"Keep it under {MAX_TEMPLATE_CHARS} characters (it has {len(text)}).")
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text) if f is not None]
    except ValueError:
        raise TemplateError("Unbalanced braces: write variables like {business}; use {{ and }} for a brace.") from None
    fields = [f for f, _, _ in parsed]
    if any(spec or conv for _, spec, conv in parsed):
        raise TemplateError("Variables are plain names like {business}, without formatting after a colon or '!'.")
    unknown = sorted({f for f in fields if f not in VARIABLES})
    if unknown:
        known = ", ".join("{" + v + "}" for v in VARIABLES)
        raise TemplateError(f"Unknown variable {', '.join('{' + u + '}' for u in unknown)}. Use: {known}.")
    if any(re.search(r"[.\[]", f) for f in fields):
        raise TemplateError("Variables are plain names like {business}.")
    return fields


def _fmt_time(t: dt.time) -> str:
    return t.strftime("%I:%M %p").lstrip("0")


def template_context(
    *, business, contact_name: str = "", at: dt.datetime | None = None, intake_url: str = ""
) -> dict[str, str]:
    now = business.local(at or timezone.now())
    intervals = [i for i in business.hours.all() if i.weekday == now.weekday()]
    hours_today = ", ".join(f"{_fmt_time(i.opens)}-{_fmt_time(i.closes)}" for i in intervals) or "closed today"
    nxt = business.next_opening(now)
    if nxt is None:
        next_opening = "soon"
    elif nxt.date() == now.date():
        next_opening = f"today at {_fmt_time(nxt.time())}"
    elif nxt.date() == now.date() + dt.timedelta(days=1):
        next_opening = f"tomorrow at {_fmt_time(nxt.time())}"
    else:
        next_opening = f"{nxt:%A} at {_fmt_time(nxt.time())}"
    first = contact_name.split()[0] if contact_name.strip() else ""
    return {
        "business": business.sender_name,
        "first_name": first,
        "intake_link": intake_url or f"{settings.PUBLIC_BASE_URL}/i/AbCdEf123456XyZ0",
        "booking_link": business.booking_url,
        "hours_today": hours_today,
        "next_opening": next_opening,
    }


def render(template: str, context: dict[str, str], *, opt_out_footer: bool) -> Rendered:
    validate_template(template)
    try:
        body = template.format(**context).strip()
    except (ValueError, KeyError, IndexError, AttributeError) as exc:  # defence in depth behind validation
        raise TemplateError(f"The template cannot be filled in ({exc.__class__.__name__}).") from None
    body = re.sub(r"[ \t]{2,}", " ", body)
    if opt_out_footer and OPT_OUT_FOOTER.lower() not in body.lower():
        body = f"{body} {OPT_OUT_FOOTER}"
    info = analyse(body)
    return Rendered(body=body, encoding=info.encoding, segments=info.segments)
