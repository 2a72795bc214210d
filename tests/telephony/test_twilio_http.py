"""The Twilio HTTP client reads proxy and CA-bundle settings from the environment once, as requests would for the
carrier's host, instead of on every request."""

from django.test import override_settings

from telephony.providers.twilio import RebasedHttpClient


@override_settings(TWILIO_API_BASE_URL="https://api.twilio.com")
def test_proxy_and_bundle_from_the_environment_are_pinned(monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    session = RebasedHttpClient(pool_connections=True, timeout=(1, 1)).session
    assert session.trust_env is False
    assert session.proxies["https"] == "http://proxy.internal:3128"
    assert session.verify == "/etc/ssl/corporate.pem"


@override_settings(TWILIO_API_BASE_URL="https://api.twilio.com")
def test_no_proxy_for_the_carrier_host_is_honoured(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", ".twilio.com")
    session = RebasedHttpClient(pool_connections=True, timeout=(1, 1)).session
    assert "https" not in session.proxies
    assert session.verify is True
