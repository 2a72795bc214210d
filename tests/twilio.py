"""Replaying Twilio-shaped webhooks through the real URLs, signed with the twilio package's RequestValidator."""

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.test import Client
from twilio.request_validator import RequestValidator

FIXTURES = Path(__file__).parent / "fixtures" / "twilio"
ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "f0" * 16


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def payload(name: str, **values: str) -> dict[str, str]:
    """A fixture with {placeholders} filled in; `AccountSid` defaults to the test account."""
    values.setdefault("account_sid", ACCOUNT_SID)
    raw = json.loads((FIXTURES / f"{name}.json").read_text())
    return {key: value.format(**values) for key, value in raw.items()}


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post(path: str, params: dict[str, str], *, token: str = AUTH_TOKEN, client: Client | None = None, signature=None):
    """POST like Twilio: form-encoded, signed over PUBLIC_BASE_URL + path (with its query string)."""
    url = settings.PUBLIC_BASE_URL + path
    headers = {} if signature == "" else {"X-Twilio-Signature": signature or sign(url, params, token)}
    return (client or Client()).post(path, params, headers=headers)


def missed_call(
    call_sid: str | None = None, *, status: str = "no-answer", caller: str | None = None, number: str | None = None
):
    """Replay the <Dial action> webhook of a call that nobody answered; returns (call_sid, response)."""
    from tests.numbers import CALLER, NUMBER_A

    call_sid = call_sid or sid("CA")
    params = payload(
        "voice_dial_action",
        call_sid=call_sid,
        caller=caller or CALLER,
        number=number or NUMBER_A,
        child_sid=sid("CA"),
        dial_status=status,
        dial_duration="0",
    )
    return call_sid, post("/webhooks/twilio/voice/dial/", params)


def textback(call_sid: str):
    """The text-back row a missed call queued."""
    from messaging.models import Message

    return Message.objects.get(idempotency_key=f"textback:{call_sid}")
