"""Every page under /app/<business_slug>/ refuses anonymous users (login) and members of another business (404),
for GET and POST. A new route is covered the moment it is added."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

SAMPLE = {"int": "1", "str": "x", "slug": "x", "path": "x"}


def app_routes() -> list[str]:
    """Concrete paths for every route below app/<slug:business_slug>/ (other kwargs filled with samples)."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and route.startswith("app/<slug:business_slug>/"):
                found.append(route)

    walk(get_resolver().url_patterns, "")
    paths = []
    for route in found:
        path = route.replace("<slug:business_slug>", "acme")
        path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE.get(m.group(1) or "str", "x"), path)
        paths.append("/" + path)
    return sorted(set(paths))


ROUTES = app_routes()


def test_the_walk_finds_the_app():
    assert len(ROUTES) > 40 and "/app/acme/" in ROUTES and "/app/acme/settings/hours/" in ROUTES


@pytest.mark.django_db
@pytest.mark.parametrize("path", ROUTES)
def test_route_refuses_anonymous_and_other_business(path, tenant_a, tenant_b, client_for):
    for method in ("get", "post"):
        anonymous = getattr(Client(), method)(path)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"], (method, path)
        for role in ("owner", "admin", "operator"):
            response = getattr(client_for(tenant_b.user(role)), method)(path)
            assert response.status_code == 404, (method, path, role, response.status_code)
