"""Every URL pattern of the site is classified here, and every class is checked the way it must refuse strangers:
tenant pages send anonymous users to login and give members of another business a 404; API routes want a bearer
key and never show another business's rows; carrier webhooks want the carrier's signature from the account that
owns the number; public token pages answer an unknown token with 404; staff admin pages want a staff login. Every
POST outside the carrier webhooks and the bearer-key API needs a CSRF token, htmx requests included.

A route the registry does not classify fails `test_every_route_is_classified`, so a new route cannot ship without
this coverage; a kind-specific check that has no probe for a new route (a webhook payload, an API row) fails too."""

import re
import secrets
from enum import StrEnum

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from compliance.models import ConsentEvent
from integrations.models import WebhookEndpoint
from messaging.models import Message
from secdesk.api import router
from telephony.models import Call
from tests import twilio
from tests.api.conftest import ApiClient, World, build_world
from tests.numbers import CALLER, NUMBER_A, OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN, OWNER_MOBILE


class Kind(StrEnum):
    APP_TENANT = "app-tenant"  # /app/<slug>/...: login, then membership of that business (404 otherwise)
    SIGNED_IN = "signed-in"  # login required, shows only the user's own memberships
    STAFF_ADMIN = "staff-admin"  # Django admin: staff login
    API_KEY = "api-key"  # bearer API key; the key decides the business; no session cookies, so no CSRF surface
    API_SCHEMA = "api-schema"  # the OpenAPI schema: describes the API, holds no data; GET only
    CARRIER_WEBHOOK = "carrier-webhook"  # carrier signature from the account that owns the number; CSRF-exempt
    PUBLIC_TOKEN = "public-token"  # unguessable token in the URL decides everything; unknown token -> 404
    AUTH_PAGE = "auth-page"  # login, logout, sign-up, password reset: public account forms
    PUBLIC = "public"  # no tenant data at all
    TOKEN_PROTECTED = "token-protected"  # Authorization: Bearer <setting>; 404 while the setting is unset


# Routes are keyed by their full pattern, exactly as get_resolver() spells it.
PREFIX_RULES = {
    "app/<slug:business_slug>/": Kind.APP_TENANT,
    "admin/": Kind.STAFF_ADMIN,
}
ROUTES = {
    "": Kind.PUBLIC,  # redirects to login or home
    "healthz": Kind.PUBLIC,  # status of the database, Redis and a worker; no tenant data
    "accounts/signup/": Kind.AUTH_PAGE,
    "accounts/login/": Kind.AUTH_PAGE,
    "accounts/logout/": Kind.AUTH_PAGE,
    "accounts/password-reset/": Kind.AUTH_PAGE,
    "accounts/password-reset/sent/": Kind.AUTH_PAGE,
    "accounts/reset/<uidb64>/<token>/": Kind.AUTH_PAGE,  # Django's signed reset link: a bad one says "invalid"
    "accounts/reset/done/": Kind.AUTH_PAGE,
    "accounts/invite/<str:token>/": Kind.PUBLIC_TOKEN,
    "app/": Kind.SIGNED_IN,
    "webhooks/twilio/voice/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/voice/screen/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/voice/screen/accept/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/voice/dial/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/voice/status/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/voice/recording/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/voice/hangup/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/voice/call-back/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/voice/call-back/status/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/sms/": Kind.CARRIER_WEBHOOK,
    "webhooks/twilio/sms/status/": Kind.CARRIER_WEBHOOK,
    "api/v1/schema/": Kind.API_SCHEMA,
    "api/v1/docs/": Kind.PUBLIC,  # rendered from the schema
    **{f"api/v1/{url.pattern}": Kind.API_KEY for url in router.urls},
    "i/<str:token>": Kind.PUBLIC_TOKEN,
    "i/<str:token>/done": Kind.PUBLIC_TOKEN,
    "p/<str:token>/": Kind.PUBLIC_TOKEN,
    r"^media/(?P<path>logos/.+)$": Kind.PUBLIC,  # business logos only (tests/test_media.py)
    "metrics": Kind.TOKEN_PROTECTED,
}
# The only kinds whose POSTs need no CSRF token, and why.
CSRF_EXEMPT = {
    Kind.CARRIER_WEBHOOK: "authenticated by the carrier's signature, never by a cookie",
    Kind.API_KEY: "authenticated by a bearer key; session cookies are not accepted",
    Kind.API_SCHEMA: "read-only: anything but GET is 405",
}

# Sample values for the parameters of a route, by converter (path()) or by group name (re_path()).
SAMPLE_BY_CONVERTER = {"int": "1", "str": "x", "slug": "x", "path": "x"}
SAMPLE_BY_GROUP = {
    "pk": "1",
    "path": "logos/x.png",
    "app_label": "tenants",
    "url": "nowhere/",
    "object_id": "1",
    "content_type_id": "1",
}


def walk_routes() -> list[str]:
    """Every URL pattern's full route, as the resolver joins them."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                found.append(route)

    walk(get_resolver().url_patterns, "")
    return found


def kind_of(route: str) -> Kind | None:
    for prefix, kind in PREFIX_RULES.items():
        if route.startswith(prefix):
            return kind
    return ROUTES.get(route)


def sample_path(route: str, **values: str) -> str:
    """A concrete path for `route` (parameters filled from `values`, else samples); checked to resolve back to the
    same route, so each check below exercises the route it names."""
    path = route.replace("<slug:business_slug>", "acme")

    def converter(match: re.Match) -> str:
        return values.get(match.group(2), SAMPLE_BY_CONVERTER[match.group(1) or "str"])

    def group(match: re.Match) -> str:
        return values.get(match.group(1), SAMPLE_BY_GROUP[match.group(1)])

    path = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", group, path)
    path = re.sub(r"<(?:(\w+):)?(\w+)>", converter, path)
    path = "/" + path.replace("^", "").replace("$", "")
    resolved = resolve(path).route
    assert resolved.replace("^", "") == route.replace("^", ""), (route, path, resolved)  # the resolver drops inner ^
    return path


ALL_ROUTES = walk_routes()


def routes_of(kind: Kind) -> list[str]:
    return sorted(route for route in ALL_ROUTES if kind_of(route) == kind)


def is_csrf_failure(response) -> bool:
    return response.status_code == 403 and b"CSRF verification failed" in response.content


# --- the registry ----------------------------------------------------------------------------------------------


def test_every_route_is_classified():
    unclassified = [route for route in ALL_ROUTES if kind_of(route) is None]
    assert unclassified == [], f"classify these routes in tests/test_url_guard.py ROUTES: {unclassified}"
    stale = set(ROUTES) - set(ALL_ROUTES)
    assert stale == set(), f"ROUTES names routes that no longer exist: {stale}"


def test_the_walk_finds_every_part_of_the_site():
    kinds = {kind_of(route) for route in ALL_ROUTES}
    assert kinds == set(Kind)
    assert len(routes_of(Kind.APP_TENANT)) > 40 and "app/<slug:business_slug>/settings/hours/" in ALL_ROUTES
    assert len(routes_of(Kind.API_KEY)) == 2 * len(router.registry)


def test_sample_paths_resolve_to_their_own_route():
    for route in ALL_ROUTES:
        sample_path(route)


# --- tenant pages ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route", routes_of(Kind.APP_TENANT))
def test_tenant_route_refuses_anonymous_and_other_business(route, tenant_a, tenant_b, client_for):
    path = sample_path(route)
    for method in ("get", "post"):
        anonymous = getattr(Client(), method)(path)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"], (method, path)
        for role in ("owner", "admin", "operator"):
            response = getattr(client_for(tenant_b.user(role)), method)(path)
            assert response.status_code == 404, (method, path, role, response.status_code)


@pytest.mark.django_db
def test_signed_in_home_needs_a_login_and_lands_on_the_users_own_business(tenant_a, tenant_b, client_for):
    (route,) = routes_of(Kind.SIGNED_IN)
    path = sample_path(route)
    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert client_for(tenant_b.owner).get(path)["Location"] == "/app/bolt/"


# --- staff admin -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in routes_of(Kind.STAFF_ADMIN) if r not in ("admin/login/",)])
def test_admin_route_refuses_anonymous_and_business_owners(route, tenant_a, client_for):
    """A business owner is not staff: the admin spans every business."""
    path = sample_path(route)
    for client in (Client(), client_for(tenant_a.owner)):
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert response.status_code == 302, (method, path, response.status_code)
            # the logout page sends a non-staff visitor to the index, which sends them to login
            assert response["Location"].startswith("/admin/login/") or response["Location"] == "/admin/", path


# --- REST API --------------------------------------------------------------------------------------------------


def _endpoint(world: World) -> int:
    endpoint = WebhookEndpoint(
        business=world.tenant.business, kind="webhook", url="https://hooks.example.com/in", events=["call.missed"]
    )
    endpoint.secret = "whsec_" + secrets.token_urlsafe(8)
    endpoint.save()
    return endpoint.pk


# How to find business A's row for each resource of the router: a new resource without an entry fails.
API_ROWS = {
    "calls": lambda world: world.call.pk,
    "conversations": lambda world: world.conversation.pk,
    "messages": lambda world: world.message.pk,
    "contacts": lambda world: world.contact.pk,
    "intake-submissions": lambda world: world.submission.pk,
    "consent-events": lambda world: world.consent.pk,
    "webhook-endpoints": _endpoint,
}


def _api_route(route: str) -> tuple[str, URLPattern]:
    """(resource prefix, router URL pattern) for an API route."""
    url = next(u for u in router.urls if f"api/v1/{u.pattern}" == route)
    return url.pattern.regex.pattern.strip("^$").split("/")[0], url


@pytest.mark.django_db
@pytest.mark.parametrize("route", routes_of(Kind.API_KEY))
def test_api_route_refuses_anonymous_and_other_business(route, tenant_a, tenant_b, number_a, number_b, client_for):
    world_a = build_world(tenant_a, number_a, "+14155550123")
    world_b = build_world(tenant_b, number_b, "+14155550199")
    prefix, url = _api_route(route)
    ours = API_ROWS[prefix](world_a)
    API_ROWS[prefix](world_b)
    is_detail = "pk" in url.pattern.regex.groupindex
    path = sample_path(route, pk=str(ours))
    methods = sorted(url.callback.actions)
    allowed = [m for m in methods if m in url.callback.cls.http_method_names]
    assert allowed, route

    for method in methods:
        for client in (ApiClient(None), ApiClient("sk_" + secrets.token_urlsafe(24)), client_for(tenant_a.owner)):
            response = client.generic(method.upper(), path, "{}", content_type="application/json")
            assert response.status_code == 401, (method, path, response.status_code)

    other = world_b.client()
    if is_detail:
        for method in methods:
            # a body the updates accept (webhook endpoints validate it before the lookup), so only the lookup refuses
            response = other.generic(method.upper(), path, '{"active": false}', content_type="application/json")
            assert response.status_code == (404 if method in allowed else 405), (method, path, response.status_code)
        assert world_a.client().get(path).status_code == 200  # still there, and the path is right
    else:
        listed = other.get(path)
        assert listed.status_code == 200
        ids = {row["id"] for row in listed.json()["results"]}
        assert ids and ours not in ids
        assert ours in {row["id"] for row in world_a.client().get(path).json()["results"]}


@pytest.mark.django_db
def test_api_schema_is_public_and_holds_no_business_data(tenant_a, number_a):
    build_world(tenant_a, number_a, "+14155550123")
    (route,) = routes_of(Kind.API_SCHEMA)
    response = Client().get(sample_path(route))
    assert response.status_code == 200
    assert b"Acme Plumbing" not in response.content and NUMBER_A.encode() not in response.content


# --- carrier webhooks ------------------------------------------------------------------------------------------


@pytest.fixture
def scene(tenant_a, number_a, number_b):
    """Business A mid-call: a caller ringing A's number (for the screening legs), a call back to an operator, and
    a sent text (for status callbacks). B's Twilio account exists, so its signatures are valid ones."""
    ringing_sid = twilio.sid("CA")
    params = twilio.payload("voice_incoming", call_sid=ringing_sid, caller=CALLER, number=NUMBER_A)
    assert twilio.post("/webhooks/twilio/voice/", params).status_code == 200
    call_back = Call.objects.create(
        business=tenant_a.business,
        phone_number=number_a,
        provider="twilio",
        provider_call_id=twilio.sid("CA"),
        direction=Call.Direction.OUTBOUND,
        status=Call.Status.RINGING,
        caller=CALLER,
        from_raw=CALLER,
        operator_number=OWNER_MOBILE,
        placed_by=tenant_a.operator,
        started_at=timezone.now(),
    )
    message = Message.objects.create(
        business=tenant_a.business,
        phone_number=number_a,
        direction="out",
        kind="reply",
        from_number=NUMBER_A,
        to_number=CALLER,
        body="On our way",
        status="sent",
        provider="twilio",
        provider_message_id=twilio.sid("SM"),
    )
    return {"ringing": ringing_sid, "call_back": call_back, "message": message}


def _webhook_probe(route: str, scene: dict, account_sid: str) -> tuple[str, dict[str, str]]:
    """(path with query, parameters) of a valid request for business A's `scene` on `route`."""
    ringing, call_back, message = scene["ringing"], scene["call_back"], scene["message"]
    common = {"account_sid": account_sid, "caller": CALLER, "number": NUMBER_A, "child_sid": twilio.sid("CA")}
    probes = {
        "webhooks/twilio/voice/": ("", "voice_incoming", {"call_sid": twilio.sid("CA")}),
        "webhooks/twilio/voice/screen/": (
            f"?call={ringing}",
            "voice_screen",
            {"call_sid": ringing, "forward_to": OWNER_MOBILE},
        ),
        "webhooks/twilio/voice/screen/accept/": (
            f"?call={ringing}",
            "voice_screen_accept",
            {"call_sid": ringing, "forward_to": OWNER_MOBILE, "digits": "1"},
        ),
        "webhooks/twilio/voice/dial/": (
            "",
            "voice_dial_action",
            {"call_sid": ringing, "dial_status": "no-answer", "dial_duration": "0"},
        ),
        "webhooks/twilio/voice/status/": ("", "voice_status", {"call_sid": ringing, "call_status": "completed"}),
        "webhooks/twilio/voice/recording/": (
            "",
            "voice_recording",
            {"call_sid": ringing, "recording_sid": twilio.sid("RE")},
        ),
        "webhooks/twilio/voice/hangup/": ("", "voice_status", {"call_sid": ringing, "call_status": "in-progress"}),
        "webhooks/twilio/voice/call-back/": (
            f"?call={call_back.pk}",
            "voice_call_back",
            {"call_sid": call_back.provider_call_id, "operator": OWNER_MOBILE},
        ),
        "webhooks/twilio/voice/call-back/status/": (
            f"?call={call_back.pk}",
            "voice_call_back_status",
            {
                "call_sid": call_back.provider_call_id,
                "operator": OWNER_MOBILE,
                "call_status": "completed",
                "duration": "30",
                "sequence": "3",
            },
        ),
        "webhooks/twilio/sms/": ("", "sms_inbound", {"message_sid": twilio.sid("SM"), "body": "STOP"}),
        "webhooks/twilio/sms/status/": (
            f"?m={message.pk}",
            "sms_status",
            {"message_sid": message.provider_message_id, "status": "failed", "error_code": "30007"},
        ),
    }
    query, fixture, values = probes[route]
    return sample_path(route) + query, twilio.payload(fixture, **common, **values)


def _state() -> tuple:
    """Everything a webhook could change for business A, to prove a refused request changed nothing."""
    return (
        sorted(Call.objects.values_list("provider_call_id", "status", "accepted_at", "ended_at", "recording_url")),
        sorted(Message.objects.values_list("id", "status", "error_code")),
        ConsentEvent.objects.count(),
    )


# Webhooks that answer the other account's valid signature with something other than 403, and why that is safe.
OTHER_ACCOUNT_ANSWERS = {
    "webhooks/twilio/voice/hangup/": 200,  # always just <Hangup/>: it reads and writes nothing
    "webhooks/twilio/sms/status/": 204,  # the status is ignored: the message was sent from A's account
}


@pytest.mark.django_db
@pytest.mark.parametrize("route", routes_of(Kind.CARRIER_WEBHOOK))
def test_carrier_webhook_needs_the_signature_of_the_numbers_own_account(route, scene):
    view = resolve(sample_path(route)).func
    assert getattr(view, "csrf_exempt", False), "carrier webhooks are CSRF-exempt by design (signature instead)"
    assert Client().get(sample_path(route)).status_code == 405
    before = _state()

    path, params = _webhook_probe(route, scene, twilio.ACCOUNT_SID)
    assert twilio.post(path, params, signature="").status_code == 403, "unsigned"
    assert twilio.post(path, params, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403, "forged"
    tampered = twilio.sign(django_settings.PUBLIC_BASE_URL + path, params)
    assert twilio.post(path, {**params, "From": "+12125550100"}, signature=tampered).status_code == 403, "tampered"

    path, params = _webhook_probe(route, scene, OTHER_ACCOUNT_SID)
    response = twilio.post(path, params, token=OTHER_AUTH_TOKEN)
    assert response.status_code == OTHER_ACCOUNT_ANSWERS.get(route, 403), ("other account", response.status_code)
    assert _state() == before

    path, params = _webhook_probe(route, scene, twilio.ACCOUNT_SID)
    assert twilio.post(path, params).status_code in (200, 204), "the probe itself is a valid request"


# --- public token pages ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route", routes_of(Kind.PUBLIC_TOKEN))
def test_public_token_route_answers_an_unknown_token_with_404(route, tenant_a, client_for):
    path = sample_path(route, token=secrets.token_urlsafe(16))
    for client in (Client(), client_for(tenant_a.owner)):
        get = client.get(path)
        assert get.status_code == 404, (path, get.status_code)
        assert b"Acme Plumbing" not in get.content
        post = client.post(path, {"description": "x"})
        assert post.status_code in (404, 405), (path, post.status_code)


# --- the rest --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route", routes_of(Kind.AUTH_PAGE) + routes_of(Kind.PUBLIC))
def test_public_and_auth_pages_show_no_business_data(route, tenant_a, number_a):
    response = Client().get(sample_path(route))
    assert response.status_code in (200, 302, 404, 405, 503), (route, response.status_code)
    assert b"Acme Plumbing" not in response.content and NUMBER_A.encode() not in response.content


@pytest.mark.django_db
def test_metrics_needs_its_bearer_token(settings):
    """/metrics: 404 while METRICS_TOKEN is unset, 401 without the right bearer token."""
    (route,) = routes_of(Kind.TOKEN_PROTECTED)
    path = sample_path(route)
    settings.METRICS_TOKEN = ""
    assert Client().get(path, headers={"Authorization": "Bearer "}).status_code == 404
    settings.METRICS_TOKEN = secrets.token_urlsafe(24)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": settings.METRICS_TOKEN}):
        assert Client().get(path, headers=headers).status_code == 401, headers
    assert Client().get(path, headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"}).status_code == 200


# --- CSRF on every POST ----------------------------------------------------------------------------------------


def _hx_csrf_token(client) -> str:
    """The token the base template hands htmx in `hx-headers` (what every hx-post sends)."""
    html = client.get("/app/acme/").content.decode()
    found = re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", html)
    assert found, "base.html must give htmx the CSRF token in hx-headers on <body>"
    return found[1]


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in ALL_ROUTES if kind_of(r) not in CSRF_EXEMPT])
def test_every_post_needs_a_csrf_token_htmx_included(route, tenant_a, number_a):
    """Tenant pages as their owner (so nothing but the token is missing), the rest as a visitor; with the token
    that base.html gives htmx, the same POST gets past the CSRF check."""
    client = Client(enforce_csrf_checks=True)
    if kind_of(route) in (Kind.APP_TENANT, Kind.SIGNED_IN):
        client.force_login(tenant_a.owner)
    path = sample_path(route)
    assert is_csrf_failure(client.post(path)), path
    assert is_csrf_failure(client.post(path, headers={"HX-Request": "true"})), path

    if kind_of(route) == Kind.APP_TENANT:
        token = _hx_csrf_token(client)
        response = client.post(path, headers={"HX-Request": "true", "X-CSRFToken": token})
        assert not is_csrf_failure(response), path


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in ALL_ROUTES if kind_of(r) in CSRF_EXEMPT])
def test_csrf_exempt_routes_are_exempt_by_design(route, tenant_a, client_for):
    """Exempt routes accept no cookie-based login that a forged cross-site POST could ride on."""
    path = sample_path(route)
    kind = kind_of(route)
    logged_in = client_for(tenant_a.owner)
    response = logged_in.post(path)
    if kind == Kind.CARRIER_WEBHOOK:
        assert response.status_code == 403 and b"signature" in response.content
    elif kind == Kind.API_KEY:
        assert response.status_code == 401  # the session cookie is no credential here
    else:
        assert kind == Kind.API_SCHEMA and response.status_code == 405
