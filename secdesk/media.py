"""Uploaded files served by Django itself, so a self-hoster needs no separate web server for them.

Only business logos are public (the intake page shows them to callers). Everything else under MEDIA_ROOT stays
private: caller MMS media (`mms/`) is streamed by a login-checked view (messaging.views_media), never from here.
"""

import posixpath
import re

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, re_path
from django.views.decorators.http import require_safe
from django.views.static import serve

PUBLIC_PREFIX = "logos/"
# What tenants.settings_services.check_logo stores (Pillow-verified images); nothing else is served.
LOGO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")
# Logo files are named `<slug>-<random>.<ext>` and never rewritten (a new logo is a new name), so a browser or
# proxy may keep one for a year.
LOGO_CACHE_CONTROL = "public, max-age=31536000, immutable"


@require_safe
def logo(request: HttpRequest, path: str) -> HttpResponse:
    """A business logo from MEDIA_ROOT/logos/. The path is normalised before it is checked, so `logos/../mms/...`
    cannot reach another folder; anything but a logo image is 404. Served with long cache headers, `nosniff`
    and a CSP sandbox, so even a file that is not what its name says cannot run as a page on our origin."""
    clean = posixpath.normpath(path)
    if (
        not clean.startswith(PUBLIC_PREFIX)
        or ".." in clean.split("/")
        or "\\" in clean
        or not clean.lower().endswith(LOGO_EXTENSIONS)
    ):
        raise Http404("Not found.")
    response = serve(request, clean, document_root=settings.MEDIA_ROOT)
    response["Cache-Control"] = LOGO_CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


def media_urlpatterns() -> list[URLPattern]:
    """URL patterns for the public part of MEDIA_URL, when media is served from this site (MEDIA_URL is a path,
    not another host such as a CDN or an object store)."""
    prefix = settings.MEDIA_URL
    if not prefix or "://" in prefix or prefix.startswith("//"):
        return []
    prefix = prefix.strip("/")
    return [re_path(rf"^{re.escape(prefix)}/(?P<path>{re.escape(PUBLIC_PREFIX)}.+)$", logo, name="media-logo")]
