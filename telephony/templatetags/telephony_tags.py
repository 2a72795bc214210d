"""Template helpers for telephony pages."""

from django import template

from secdesk.phone import pretty

register = template.Library()


@register.filter
def phone(e164: str) -> str:
    """An E.164 number as a person reads it ("(415) 523-8886"); "Unknown caller" when blank."""
    return pretty(e164)
