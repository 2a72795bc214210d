"""Fixtures for the REST API tests: for each business, an API key and one row of every resource."""

import datetime as dt
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone

from compliance.models import ConsentEvent
from compliance.services import consent_record
from inbox.models import Contact, Conversation
from intake.models import IntakeLink, IntakeSubmission
from messaging.models import Message
from telephony.models import Call, PhoneNumber
from tenants.services_api_keys import api_key_create
from tests.factories import CallFactory, ContactFactory, ConversationFactory, OutboundMessageFactory


@dataclass
class World:
    """One business's API key and one row of each resource the API serves."""

    tenant: object
    key: str
    number: PhoneNumber
    contact: Contact
    conversation: Conversation
    call: Call
    message: Message
    submission: IntakeSubmission
    consent: ConsentEvent

    def client(self) -> "ApiClient":
        return ApiClient(self.key)

    def ids(self) -> dict[str, int]:
        """Resource path -> the id of this business's row."""
        return {
            "calls": self.call.pk,
            "conversations": self.conversation.pk,
            "messages": self.message.pk,
            "contacts": self.contact.pk,
            "intake-submissions": self.submission.pk,
            "consent-events": self.consent.pk,
        }


class ApiClient(Client):
    """A test client that sends `Authorization: Bearer <key>` and JSON bodies."""

    def __init__(self, key: str | None):
        super().__init__(headers={"Authorization": f"Bearer {key}"} if key else None)

    def patch_json(self, path: str, data: dict):
        return self.patch(path, data, content_type="application/json")

    def post_json(self, path: str, data: dict):
        return self.post(path, data, content_type="application/json")


def build_world(tenant, number: PhoneNumber, caller: str) -> World:
    business = tenant.business
    contact = ContactFactory(business=business, phone=caller, name="Dana Caller")
    conversation = ConversationFactory(contact=contact, phone_number=number)
    call = CallFactory(phone_number=number, caller=caller, contact=contact, conversation=conversation)
    message = OutboundMessageFactory(
        phone_number=number, conversation=conversation, to_number=caller, kind="textback", status="sent"
    )
    link = IntakeLink.objects.create(
        business=business, conversation=conversation, expires_at=timezone.now() + dt.timedelta(days=7)
    )
    submission = IntakeSubmission.objects.create(
        business=business, link=link, conversation=conversation, name="Dana", service_type="Leak", zip_code="94110"
    )
    consent = consent_record(business=business, phone=caller, kind=ConsentEvent.Kind.IMPLIED_BY_CALL, call=call)
    _, key = api_key_create(business=business, name="CRM", created_by=tenant.owner)
    return World(tenant, key, number, contact, conversation, call, message, submission, consent)


@pytest.fixture
def world_a(tenant_a, number_a) -> World:
    return build_world(tenant_a, number_a, "+14155550123")


@pytest.fixture
def world_b(tenant_b, number_b) -> World:
    return build_world(tenant_b, number_b, "+14155550199")
