"""REST API authentication: `Authorization: Bearer <key>`. The key decides the business; no request parameter,
session or URL can choose another one. Throttling counts requests per key, not per address, so one noisy
integration cannot starve the others behind the same NAT."""

import logging

from django.conf import settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from tenants.models import ApiKey
from tenants.services_api_keys import api_key_authenticate

logger = logging.getLogger(__name__)


class ApiKeyAuthentication(BaseAuthentication):
    """Bearer API keys. Returns (the key's creator or None, the ApiKey) and sets `request.business`. A missing
    header leaves the request unauthenticated (HasApiKey then answers 401); a malformed, unknown or revoked key is
    refused with 401 straight away."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the key as 'Authorization: Bearer <key>'.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Unknown or revoked API key.") from None
        key = api_key_authenticate(secret)
        if key is None:
            raise AuthenticationFailed("Unknown or revoked API key.")
        request.business = key.business
        return (key.created_by, key)

    def authenticate_header(self, request) -> str:
        # makes DRF answer 401 (with this challenge) rather than 403 when no key was sent
        return 'Bearer realm="api"'


class HasApiKey(BasePermission):
    """Every API call needs a valid key (the user may be None: a key outlives its creator's account)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class ApiKeyThrottle(SimpleRateThrottle):
    """Requests per key, at settings.API_THROTTLE_RATE (read per request, so tests and operators can change it).
    The counter lives in the cache (Redis); the key's random prefix is part of the cache key so two databases
    sharing one Redis (tests, staging) never share counters."""

    scope = "api_key"

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE

    def allow_request(self, request, view) -> bool:
        # the rate is parsed in __init__; parse it again here so a changed setting applies at once
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception:  # the counter is in Redis: when it is down, serve rather than fail every request
            logger.warning("API throttle unavailable; letting the request through", exc_info=True)
            return True

    def get_cache_key(self, request, view) -> str | None:
        key = request.auth
        if not isinstance(key, ApiKey):
            return None  # refused by authentication anyway
        return f"throttle_api_key_{key.pk}_{key.prefix}"
