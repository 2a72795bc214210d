"""Carrier providers, registered from settings.TELEPHONY_PROVIDERS ({code: dotted path})."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from telephony.providers.base import Provider


@cache
def get_provider(code: str) -> Provider:
    try:
        path = settings.TELEPHONY_PROVIDERS[code]
    except KeyError:
        raise LookupError(f"No carrier provider registered as {code!r}.") from None
    return import_string(path)()


def provider_choices() -> list[tuple[str, str]]:
    return [(code, get_provider(code).label) for code in settings.TELEPHONY_PROVIDERS]
