"""Intake fixtures: an open conversation for each tenant with its link, and photo bytes built with Pillow."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from intake.services import intake_link_for, intake_settings_for
from tests.factories import ContactFactory, ConversationFactory, PhoneNumberFactory
from tests.numbers import CALLER


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


def photo(name: str = "leak.jpg", fmt: str = "JPEG", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(fmt), content_type=content_type)


def open_conversation(business, phone: str = CALLER):
    number = PhoneNumberFactory(business=business)
    contact = ContactFactory(business=business, phone=phone)
    return ConversationFactory(contact=contact, business=business, phone_number=number)


@pytest.fixture
def conversation_a(tenant_a):
    return open_conversation(tenant_a.business)


@pytest.fixture
def conversation_b(tenant_b):
    return open_conversation(tenant_b.business)


@pytest.fixture
def link_a(conversation_a):
    return intake_link_for(conversation=conversation_a)


@pytest.fixture
def link_b(conversation_b):
    return intake_link_for(conversation=conversation_b)


@pytest.fixture
def settings_a(tenant_a):
    intake_settings = intake_settings_for(business=tenant_a.business)
    intake_settings.service_types = ["Leak", "Water heater", "Drain"]
    intake_settings.confirmation_text = "We'll call you within 15 minutes during business hours."
    intake_settings.save()
    return intake_settings
