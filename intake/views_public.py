"""The caller's intake page at /i/<token>: no login, no JavaScript, no third-party requests.

The token decides everything (business, conversation); the form carries no ids. Unknown and expired tokens get one
identical 404 page, so the page never tells whether a token exists. A link whose conversation is closed answers
410 Gone with a friendly "call us" page (the holder of a valid link learns nothing new from it).
"""

import re
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit
from django_ratelimit.exceptions import Ratelimited

from intake import services
from intake.forms import HONEYPOT_FIELD, IntakeForm
from intake.i18n import choose_language, strings
from intake.models import IntakeLink
from secdesk.phone import pretty

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
HEX_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
FALLBACK_BRAND = "#1d4ed8"

# (rate, key, method): per visitor address for reads and writes, and per link for writes, so one link cannot be
# hammered from many addresses and one address cannot sweep many links.
PAGE_LIMITS = (
    ("120/h", "ip", "GET"),
    ("30/h", "ip", "POST"),
    ("10/h", "intake.views_public.token_key", "POST"),
)
DONE_LIMITS = (("120/h", "ip", "GET"),)


def token_key(group: str, request: HttpRequest) -> str:
    """Rate-limit key: the link's token from the URL."""
    return str(request.resolver_match.kwargs.get("token", "")) if request.resolver_match else ""


def rate_limited(limits: tuple[tuple[str, str, str], ...], group: str) -> Callable:
    """django-ratelimit limits answered with settings.RATELIMIT_VIEW (our 429 page)."""

    def decorator(view: Callable) -> Callable:
        limited = view
        for rate, key, method in limits:
            limited = ratelimit(group=group, key=key, rate=rate, method=method, block=True)(limited)

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return limited(request, *args, **kwargs)
            except Ratelimited as exc:
                return import_string(settings.RATELIMIT_VIEW)(request, exc)

        return wrapped

    return decorator


def header_text_colour(background: str) -> str:
    """Black or white, whichever contrasts more with `background` (#rrggbb), by WCAG relative luminance."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(background[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    with_white = 1.05 / (luminance + 0.05)
    with_black = (luminance + 0.05) / 0.05
    return "#ffffff" if with_white >= with_black else "#000000"


def _live_link(token: str) -> IntakeLink | None:
    if not TOKEN_RE.match(token):
        return None
    return (
        IntakeLink.objects.select_related("business", "conversation", "conversation__phone_number")
        .filter(token=token)
        .first()
    )


def _branding(business) -> dict:
    brand = business.brand_color if HEX_COLOUR_RE.match(business.brand_color or "") else FALLBACK_BRAND
    return {"business": business, "brand": brand, "brand_text": header_text_colour(brand)}


def _respond(request: HttpRequest, template: str, context: dict, language: str, status: int = 200) -> HttpResponse:
    text = strings(language)
    other = text["switch_lang"]
    context = {
        **context,
        "lang": language,
        "t": text,
        # query-only, so the page never repeats its own token (unknown and expired pages stay byte-identical)
        "switch_url": f"?lang={other}",
        "switch_lang": other,
    }
    with translation.override(language):
        response = render(request, template, context, status=status)
    patch_vary_headers(response, ["Accept-Language"])
    response["Content-Language"] = language
    response["X-Robots-Tag"] = "noindex, nofollow"
    # The token is in the address: never pass it on to another site. ("no-referrer" would also blank the Origin of
    # the form's own POST, and Django's CSRF check then refuses every submission from a real browser.)
    response["Referrer-Policy"] = "same-origin"
    return response


def _open_link(request: HttpRequest, token: str, language: str) -> tuple:
    """(link, None) for a link the caller may use, else (None, the page to show instead): unknown and expired
    links get the same 404, a closed conversation the 410 page."""
    link = _live_link(token)
    if link is None:
        return None, _not_found(request, language)
    state = services.link_state(link=link)
    if state == "expired":
        return None, _not_found(request, language)
    if state == "closed":
        return None, _closed(request, link, language)
    return link, None


def _not_found(request: HttpRequest, language: str) -> HttpResponse:
    """The one page for unknown and expired links: generic, with nothing that depends on the token."""
    return _respond(request, "intake/expired.html", {}, language, status=404)


def _closed(request: HttpRequest, link: IntakeLink, language: str) -> HttpResponse:
    number = link.conversation.phone_number
    context = {
        **_branding(link.business),
        "number": pretty(number.e164) if number else "",
        "number_e164": number.e164 if number else "",
    }
    return _respond(request, "intake/closed.html", context, language, status=410)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@rate_limited(PAGE_LIMITS, group="intake.page")
def intake_page(request: HttpRequest, token: str) -> HttpResponse:
    """The form. GET records the first open; a valid POST saves through services.intake_submit and redirects to
    the confirmation page (post/redirect/get). A filled honeypot gets the same redirect and saves nothing."""
    language = choose_language(request)
    link, refusal = _open_link(request, token, language)
    if refusal is not None:
        return refusal

    business = link.business
    intake_settings = services.intake_settings_for(business=business)
    submission = link.submission if hasattr(link, "submission") else None
    disclosure = services.disclosure_text(intake_settings=intake_settings, business=business, language=language)
    done_url = reverse("intake_done", kwargs={"token": link.token}) + f"?lang={language}"
    form_kwargs = {
        "intake_settings": intake_settings,
        "language": language,
        "disclosure": disclosure,
        "submission": submission,
    }
    with translation.override(language):
        if request.method == "POST":
            form = IntakeForm(request.POST, request.FILES, **form_kwargs)
            if form.is_valid():
                if form.is_spam:
                    return redirect(done_url)
                try:
                    services.intake_submit(link=link, data=form.answers(), photos=form.photos(), language=language)
                except services.IntakeExpired:
                    return _not_found(request, language)
                except services.IntakeClosed:
                    link.conversation.refresh_from_db(fields=["status"])
                    return _closed(request, link, language)
                return redirect(done_url)
        else:
            if request.method == "GET":
                services.intake_link_opened(link=link)
            form = IntakeForm(**form_kwargs)
        fields = [f for f in form.visible_fields() if f.name != HONEYPOT_FIELD]
    context = {
        **_branding(business),
        "form": form,
        "fields": fields,
        "honeypot": form[HONEYPOT_FIELD],
        "submission": submission,
        "action": f"{request.path}?lang={language}",
        "photos_kept": strings(language)["photos_kept"].format(count=form.existing_photos)
        if form.existing_photos
        else "",
    }
    return _respond(request, "intake/page.html", context, language)


@never_cache
@require_http_methods(["GET", "HEAD"])
@rate_limited(DONE_LIMITS, group="intake.done")
def intake_done(request: HttpRequest, token: str) -> HttpResponse:
    """What happens next, in the business's words, and a link back to change the answers."""
    language = choose_language(request)
    link, refusal = _open_link(request, token, language)
    if refusal is not None:
        return refusal
    intake_settings = services.intake_settings_for(business=link.business)
    context = {
        **_branding(link.business),
        "confirmation": services.confirmation_text(
            intake_settings=intake_settings, business=link.business, language=language
        ),
        "edit_url": reverse("intake_page", kwargs={"token": link.token}) + f"?lang={language}",
    }
    return _respond(request, "intake/done.html", context, language)
