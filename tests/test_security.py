"""Browser-facing hardening: the Content-Security-Policy and the other security headers (also as production
settings send them), templates that stay within the policy, htmx's CSRF token, and the rate limits that
tests/tenants/test_accounts.py and tests/intake/test_public_page.py do not already count.

CSRF on every POST and access control on every route are in tests/test_url_guard.py; `check --deploy` is
tests/test_foundation.py::test_production_settings_pass_check_deploy."""

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.test import Client

from intake.services import intake_link_for
from tests.factories import ContactFactory, ConversationFactory, InvitationFactory, PhoneNumberFactory

ROOT = Path(__file__).resolve().parent.parent
FROZEN = dt.datetime(2026, 3, 2, 15, 0, 10, tzinfo=dt.UTC)  # rate-limit windows are time-based: hold the clock


def policy(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}."""
    header = response["Content-Security-Policy"]
    parts = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


@pytest.fixture
def intake_link(tenant_a):
    number = PhoneNumberFactory(business=tenant_a.business)
    contact = ContactFactory(business=tenant_a.business, phone="+14155550111")
    return intake_link_for(conversation=ConversationFactory(contact=contact, phone_number=number))


# --- Content-Security-Policy -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_kind_of_page_sends_the_policy(tenant_a, client_for, intake_link):
    pages = {
        "login": Client().get("/accounts/login/"),
        "dashboard": client_for(tenant_a.owner).get("/app/acme/"),
        "inbox partial": client_for(tenant_a.operator).get("/app/acme/inbox/", headers={"HX-Request": "true"}),
        "intake page": Client().get(f"/i/{intake_link.token}"),
        "not found": client_for(tenant_a.owner).get("/app/acme/nothing-here/"),
        "api": Client().get("/api/v1/calls/"),
    }
    for name, response in pages.items():
        csp = policy(response)
        assert csp["default-src"] == ["'self'"], name
        assert csp["script-src"] == ["'self'"], name  # no 'unsafe-inline', no 'unsafe-eval', no hosts
        assert csp["style-src-elem"] == ["'self'"], name  # no <style> element
        assert csp["style-src-attr"] == ["'unsafe-inline'"], name  # style attributes (settings.py says why)
        assert csp["style-src"] == ["'self'", "'unsafe-inline'"], name  # for browsers without the two above
        assert csp["img-src"] == ["'self'"], name
        assert csp["object-src"] == ["'none'"], name
        assert csp["base-uri"] == ["'self'"], name
        assert csp["form-action"] == ["'self'"], name
        assert csp["frame-ancestors"] == ["'none'"], name
        assert "unsafe-eval" not in response["Content-Security-Policy"], name


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_templates_need_nothing_the_policy_forbids(template):
    """No inline script, inline event handler, javascript: URL, htmx eval (hx-on, js:/javascript: values, trigger
    filters) or <style> element: each would be blocked by the policy (or need it weakened)."""
    html = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"javascript:", html, re.I), "javascript: URL"
    assert not re.search(r"\bhx-on", html), "hx-on needs eval"
    assert not re.search(r"""\bhx-(?:vals|vars|headers)=["']\s*(?:js|javascript):""", html), "htmx js: values"
    assert not re.search(r"""\bhx-trigger=["'][\w:.-]+\[""", html), "htmx trigger filters need eval"
    assert "<style" not in html, "<style> element"
    for src in re.findall(r"""\b(?:src|href)=["'](https?:)?//""", html):
        pytest.fail(f"third-party resource in {template.name}: {src}")


@pytest.mark.django_db
def test_base_template_turns_htmx_eval_off_and_gives_htmx_the_csrf_token(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    html = client.get("/app/acme/").content.decode()
    meta = re.search(r"""<meta name="htmx-config" content='([^']+)'>""", html)
    assert meta, "base.html must configure htmx"
    config = json.loads(meta[1])
    assert config["allowEval"] is False  # hx-on, js: and trigger filters would need 'unsafe-eval'
    assert config["includeIndicatorStyles"] is False  # htmx would inject an inline <style>
    assert html.index('name="htmx-config"') < html.index("htmx.min.js"), "htmx reads its config when it loads"
    body = re.search(r"<body hx-headers='([^']+)'", html)
    assert body, "every hx-post sends the token from hx-headers on <body>"
    assert len(json.loads(body[1])["X-CSRFToken"]) == 64  # a masked token (test_url_guard.py POSTs with it)


def test_htmx_is_used_only_on_pages_built_on_base_html():
    """hx-post sends the CSRF token from base.html's <body hx-headers>: a page not built on base.html would post
    without it. Partials count through every template that includes them (those no template includes are htmx
    answers, swapped into such pages)."""
    root = ROOT / "templates"
    text = {path.relative_to(root).as_posix(): path.read_text() for path in TEMPLATES}

    def on_base(name: str) -> bool:
        parent = re.search(r'{% extends "([^"]+)" %}', text[name])
        if parent:
            return parent[1] == "base.html" or on_base(parent[1])
        includers = [other for other, body in text.items() if f'{{% include "{name}"' in body]
        return Path(name).name.startswith("_") and all(on_base(other) for other in includers)

    uses_htmx = [name for name, body in text.items() if re.search(r"\bhx-(?:get|post|put|patch|delete)=", body)]
    assert uses_htmx and [name for name in uses_htmx if not on_base(name)] == []


# --- other security headers ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_security_headers_on_a_page(tenant_a, client_for):
    response = client_for(tenant_a.owner).get("/app/acme/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


PRODUCTION_PROBE = """
import json
import django
django.setup()
from django.test import Client
insecure = Client().get("/api/v1/calls/", HTTP_HOST="seconddesk.example.com")
secure = Client().get("/api/v1/calls/", secure=True, HTTP_HOST="seconddesk.example.com")
print(json.dumps({
    "insecure": [insecure.status_code, insecure.get("Location", "")],
    "secure": [secure.status_code, dict(secure.headers.items())],
}))
"""


def test_production_settings_send_hsts_and_redirect_to_https():
    """The real settings module with DEBUG off, as deployed (the test settings run with DEBUG's defaults). The probe
    is an API answer: pages need `collectstatic`'s manifest under production settings."""
    env = {
        **{key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "0",
        "DB_POOL": "0",
        "SECRET_KEY": os.urandom(32).hex(),
        "ALLOWED_HOSTS": "seconddesk.example.com",
        "PUBLIC_BASE_URL": "https://seconddesk.example.com",
        "DJANGO_SETTINGS_MODULE": "secdesk.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["insecure"] == [301, "https://seconddesk.example.com/api/v1/calls/"]
    status, headers = seen["secure"]
    assert status == 401
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self';" in headers["Content-Security-Policy"] + ";"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"


# --- rate limits not counted elsewhere -------------------------------------------------------------------------


@pytest.mark.django_db
def test_intake_done_page_is_rate_limited_per_ip(intake_link):
    client = Client(REMOTE_ADDR="198.51.100.20")
    path = f"/i/{intake_link.token}/done"
    with time_machine.travel(FROZEN, tick=False):
        for _ in range(120):
            assert client.get(path).status_code == 200
        assert client.get(path).status_code == 429
        assert Client(REMOTE_ADDR="198.51.100.21").get(path).status_code == 200


@pytest.mark.django_db
def test_invitation_answers_are_rate_limited_per_ip(tenant_a):
    _, token = InvitationFactory.with_token(business=tenant_a.business)
    client = Client(REMOTE_ADDR="198.51.100.30")
    path = f"/accounts/invite/{token}/"
    data = {"full_name": "Sam", "password": "short", "password2": "other"}
    with time_machine.travel(FROZEN, tick=False):
        for _ in range(30):
            assert client.post(path, data).status_code == 200
        blocked = client.post(path, data)
        assert blocked.status_code == 429 and "Too many attempts" in blocked.content.decode()
        assert Client(REMOTE_ADDR="198.51.100.31").post(path, data).status_code == 200
