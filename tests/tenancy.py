"""Assertions that a tenant-scoped URL refuses everyone it should, the same way for every page."""

from django.test import Client

from tenants.models import Membership


def assert_guarded(client_for, url: str, *, own, other, allowed_roles, method: str = "get", data=None) -> None:
    """`url` belongs to tenant `own`. Anonymous users are sent to login; members of `other` get 404; members of
    `own` whose role is not in `allowed_roles` get 403; allowed roles do not get 403/404."""
    call = lambda c: getattr(c, method)(url, data or {})  # noqa: E731

    anon = call(Client())
    assert anon.status_code == 302 and "/accounts/login/" in anon["Location"], (url, anon.status_code)

    for role in Membership.Role.values:
        response = call(client_for(other.user(role)))
        assert response.status_code == 404, (url, "other business", role, response.status_code)

    for role in Membership.Role.values:
        response = call(client_for(own.user(role)))
        if role in allowed_roles:
            assert response.status_code not in (403, 404), (url, role, response.status_code)
        else:
            assert response.status_code == 403, (url, role, response.status_code)
