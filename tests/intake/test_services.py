"""intake.services: links, settings, and what a submission writes."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from compliance.models import AuditEvent, ConsentEvent
from inbox.models import Conversation
from intake.models import DEFAULT_DISCLOSURE, DEFAULT_REQUIRED, DEFAULT_SHOWN, IntakeLink, IntakeSubmission
from intake.services import (
    IntakeClosed,
    IntakeExpired,
    intake_link_for,
    intake_link_opened,
    intake_settings_for,
    intake_submit,
    submission_summary,
)
from tests.intake.conftest import open_conversation, photo

ANSWERS = {
    "name": "Dana Reyes",
    "service_type": "Leak",
    "description": "Water coming through the kitchen ceiling.",
    "address": "12 Main St",
    "zip_code": "94110",
    "urgency": "emergency",
    "callback_window": "morning",
    "customer_type": "existing",
    "consent": True,
}


def test_settings_are_created_with_the_defaults_once(tenant_a):
    first = intake_settings_for(business=tenant_a.business)
    again = intake_settings_for(business=tenant_a.business)
    assert first.pk == again.pk
    assert first.fields_shown == DEFAULT_SHOWN
    assert first.fields_required == DEFAULT_REQUIRED
    assert first.service_types == []


def test_link_is_unguessable_and_expires_after_the_business_lifetime(tenant_a, conversation_a):
    intake_settings = intake_settings_for(business=tenant_a.business)
    intake_settings.link_lifetime_days = 3
    intake_settings.save()
    now = timezone.now()
    link = intake_link_for(conversation=conversation_a, now=now)
    assert link.business_id == tenant_a.business.pk
    assert len(link.token) >= 16  # 96 random bits, URL-safe
    assert link.expires_at == now + dt.timedelta(days=3)
    # idempotent: the same link, the expiry untouched
    assert intake_link_for(conversation=conversation_a, now=now + dt.timedelta(days=1)).pk == link.pk
    assert IntakeLink.objects.get(pk=link.pk).expires_at == link.expires_at


def test_link_lifetime_defaults_to_14_days_without_settings(conversation_a):
    now = timezone.now()
    assert intake_link_for(conversation=conversation_a, now=now).expires_at == now + dt.timedelta(days=14)


@pytest.mark.django_db(transaction=True)
def test_concurrent_link_creation_yields_one_link(tenant_a):
    conversation = open_conversation(tenant_a.business)
    barrier = threading.Barrier(4)
    tokens, errors = [], []

    def create():
        try:
            barrier.wait()
            tokens.append(intake_link_for(conversation=conversation).token)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(tokens)) == 1
    assert IntakeLink.objects.filter(conversation=conversation).count() == 1


def test_opened_at_is_recorded_once(link_a):
    first = timezone.now()
    assert intake_link_opened(link=link_a, now=first) is True
    fresh = IntakeLink.objects.get(pk=link_a.pk)
    assert intake_link_opened(link=fresh, now=first + dt.timedelta(hours=1)) is False
    assert IntakeLink.objects.get(pk=link_a.pk).opened_at == first


def test_submit_stores_every_field_updates_contact_records_consent_and_audits(tenant_a, link_a, settings_a):
    submission = intake_submit(link=link_a, data=ANSWERS, photos=[photo()], language="en")

    stored = IntakeSubmission.objects.get(pk=submission.pk)
    for field, value in ANSWERS.items():
        if field != "consent":
            assert getattr(stored, field) == value, field
    assert stored.consent_given is True
    disclosure = DEFAULT_DISCLOSURE.replace("{business}", "Acme Plumbing")
    assert stored.consent_disclosure == disclosure
    assert stored.conversation_id == link_a.conversation_id
    assert stored.business_id == tenant_a.business.pk
    assert stored.photos.count() == 1
    assert stored.photos.get().content_type == "image/jpeg"

    contact = link_a.conversation.contact
    contact.refresh_from_db()
    assert (contact.name, contact.zip_code) == ("Dana Reyes", "94110")

    event = ConsentEvent.objects.get(business=tenant_a.business, kind=ConsentEvent.Kind.INTAKE_CONSENT)
    assert event.disclosure_text == disclosure
    assert event.phone == contact.phone
    assert event.source_ref == f"intake:{submission.pk}"

    entry = AuditEvent.objects.get(business=tenant_a.business, action="intake.submitted")
    assert entry.target_id == str(submission.pk)
    assert "summary" not in entry.detail and entry.detail["urgency"] == "emergency"
    assert "Service: Leak" in submission_summary(entry_submission(entry))
    assert "Urgency: Emergency — now" in submission_summary(entry_submission(entry))

    link = IntakeLink.objects.get(pk=link_a.pk)
    assert link.submitted_at is not None
    conversation = Conversation.objects.get(pk=link_a.conversation_id)
    assert conversation.last_inbound_at == link.submitted_at


def test_resubmitting_updates_the_same_submission_and_consents_once(tenant_a, link_a, settings_a):
    first = intake_submit(link=link_a, data=ANSWERS, photos=[photo()], language="en")
    again = intake_submit(
        link=link_a, data={**ANSWERS, "description": "Now the ceiling is sagging."}, photos=[], language="en"
    )
    assert again.pk == first.pk
    assert IntakeSubmission.objects.count() == 1
    assert IntakeSubmission.objects.get().description == "Now the ceiling is sagging."
    assert again.photos.count() == 1  # no new photos: the old ones stay
    # ticked both times: one ledger entry
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.INTAKE_CONSENT).count() == 1

    # Consent is one-way on the form (withdrawn by texting STOP): unticking neither clears it nor lets a re-tick
    # record it twice, so the ledger and the submission always agree.
    unticked = intake_submit(link=link_a, data={**ANSWERS, "consent": False}, photos=None, language="en")
    assert unticked.consent_given is True
    intake_submit(link=link_a, data=ANSWERS, photos=None, language="es")
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.INTAKE_CONSENT).count() == 1
    assert AuditEvent.objects.filter(action="intake.submitted").count() == 4


def test_an_expired_link_of_an_open_conversation_is_renewed_for_the_next_text(conversation_a):
    link = intake_link_for(conversation=conversation_a)
    IntakeLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    again = intake_link_for(conversation=conversation_a)
    assert again.token == link.token and again.expires_at > timezone.now() + dt.timedelta(days=13)


def test_new_photos_replace_the_old_ones(link_a, settings_a):
    submission = intake_submit(link=link_a, data=ANSWERS, photos=[photo(), photo()], language="en")
    old_names = list(submission.photos.values_list("file", flat=True))
    intake_submit(link=link_a, data=ANSWERS, photos=[photo("drain.png", "PNG", "image/png")], language="en")
    assert list(submission.photos.values_list("content_type", flat=True)) == ["image/png"]
    assert not set(old_names) & set(submission.photos.values_list("file", flat=True))


def test_submit_refuses_more_than_three_photos_and_non_images(link_a):
    with pytest.raises(ValidationError):
        intake_submit(link=link_a, data=ANSWERS, photos=[photo() for _ in range(4)], language="en")
    fake = SimpleUploadedFile("leak.jpg", b"just some text", content_type="image/jpeg")
    with pytest.raises(ValidationError):
        intake_submit(link=link_a, data=ANSWERS, photos=[fake], language="en")
    assert IntakeSubmission.objects.count() == 0


def test_closed_conversation_and_expired_link_are_refused(link_a, conversation_a, tenant_b):
    Conversation.objects.filter(pk=conversation_a.pk).update(status=Conversation.Status.BOOKED)
    with pytest.raises(IntakeClosed):
        intake_submit(link=link_a, data=ANSWERS, photos=None, language="en")

    conversation = open_conversation(tenant_b.business)
    link = intake_link_for(conversation=conversation, now=timezone.now() - dt.timedelta(days=15))
    with pytest.raises(IntakeExpired):
        intake_submit(link=link, data=ANSWERS, photos=None, language="en")
    assert IntakeSubmission.objects.count() == 0


def test_summary_is_readable_and_leaves_blanks_out(link_a):
    submission = intake_submit(
        link=link_a, data={"description": "Drain is slow", "urgency": "this_week"}, photos=None, language="es"
    )
    summary = submission_summary(submission)
    assert summary.splitlines() == [
        "Intake form (answered in Spanish)",
        "Urgency: This week",
        "Description: Drain is slow",
        "Agreed to follow-up texts: no",
    ]


def entry_submission(entry):
    from intake.models import IntakeSubmission

    return IntakeSubmission.objects.get(pk=entry.target_id)


def test_photo_files_are_removed_when_the_submission_fails(link_a, settings_a, monkeypatch, tmp_path, settings):
    import intake.services as services

    def boom(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "on_intake_submitted", boom)
    with pytest.raises(RuntimeError):
        intake_submit(link=link_a, data=ANSWERS, photos=[photo()], language="en")
    media = tmp_path / "media"
    stored = [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
    assert stored == [] and not IntakeSubmission.objects.exists()
