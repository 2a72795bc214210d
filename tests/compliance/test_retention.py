"""Retention: the owner's setting, and the nightly purge of old message text, media files and recording links."""

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent, ComplianceSettings, ConsentEvent
from compliance.privacy import purge_expired
from compliance.services import consent_record
from compliance.tasks import purge_expired_task
from messaging.models import Message
from telephony.models import Call
from tests.concurrency import held_elsewhere
from tests.factories import CallFactory, PhoneNumberFactory
from tests.numbers import CALLER

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=31)
RECENT = NOW - dt.timedelta(days=29)


def keep_for(business, days: int | None) -> None:
    ComplianceSettings.objects.update_or_create(business=business, defaults={"retention_days": days})


def message(business, number, *, created_at, body="Boiler leaking at 12 Elm St", status="delivered", media=None):
    row = Message.objects.create(
        business=business,
        phone_number=number,
        direction="out",
        kind="reply",
        from_number=number.e164,
        to_number=CALLER,
        body=body,
        status=status,
        provider="twilio",
        media=media or [],
    )
    Message.objects.filter(pk=row.pk).update(created_at=created_at)
    return row


def recorded_call(number, *, started_at):
    return CallFactory(
        phone_number=number,
        started_at=started_at,
        recording_sid="RE1" + "0" * 31,
        recording_url="https://api.twilio.com/Recordings/RE1",
    )


@pytest.mark.django_db
def test_owner_sets_the_retention_period(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    privacy_url = reverse("settings_privacy", args=[tenant_a.business.slug])
    page = client.get(privacy_url)
    assert page.status_code == 200 and "kept until you delete them" in page.content.decode()

    done = client.post(privacy_url, {"retention_days": "90"}, follow=True)
    assert done.redirect_chain == [(privacy_url, 302)] and "kept for 90 days" in done.content.decode()
    assert tenant_a.business.compliance_settings.retention_days == 90
    entry = AuditEvent.objects.get(business=tenant_a.business, action="settings.retention")
    assert entry.actor == tenant_a.owner and entry.detail == {"before": None, "after": 90}

    for bad in ("29", "3651", "ten"):
        response = client.post(privacy_url, {"retention_days": bad})
        assert response.status_code == 400 and 'class="errorlist"' in response.content.decode()
    ComplianceSettings.objects.get(business=tenant_a.business, retention_days=90)

    client.post(privacy_url, {"retention_days": ""})
    assert ComplianceSettings.objects.get(business=tenant_a.business).retention_days is None


@pytest.mark.django_db
def test_purge_blanks_only_old_rows_of_businesses_with_a_period(
    tenant_a, tenant_b, number_a, django_capture_on_commit_callbacks
):
    number_b = PhoneNumberFactory(business=tenant_b.business)
    # first, so the opt-out does not fail the queued message below
    event = consent_record(business=tenant_a.business, phone=CALLER, kind="opt_out", raw_text="STOP please")
    ConsentEvent.objects.filter(pk=event.pk).update(created_at=OLD)
    keep_for(tenant_a.business, 30)
    keep_for(tenant_b.business, None)  # keeps everything
    stored = default_storage.save("mms/old.png", ContentFile(b"png"))
    old = message(tenant_a.business, number_a, created_at=OLD, media=[{"url": "u", "stored": stored}])
    recent = message(tenant_a.business, number_a, created_at=RECENT)
    queued = message(tenant_a.business, number_a, created_at=OLD, status="queued")  # a worker may still send it
    other = message(tenant_b.business, number_b, created_at=OLD)
    old_call = recorded_call(number_a, started_at=OLD)
    recent_call = recorded_call(number_a, started_at=RECENT)
    other_call = recorded_call(number_b, started_at=OLD)
    audits_before = AuditEvent.objects.filter(business=tenant_a.business).count()

    with django_capture_on_commit_callbacks(execute=True):
        totals = purge_expired(now=NOW)

    assert totals == {"businesses": 1, "messages": 1, "media_files": 1, "recordings": 1, "intake_submissions": 0}
    old.refresh_from_db()
    assert (old.body, old.media, old.status, old.to_number) == ("", [], "delivered", CALLER)  # the row stays
    assert not default_storage.exists(stored)
    assert Message.objects.get(pk=recent.pk).body and Message.objects.get(pk=queued.pk).body
    assert Message.objects.get(pk=other.pk).body
    call = Call.objects.get(pk=old_call.pk)
    assert (call.recording_url, call.recording_sid, call.caller) == ("", "", old_call.caller)
    assert Call.objects.get(pk=recent_call.pk).recording_url and Call.objects.get(pk=other_call.pk).recording_url
    # the ledger is evidence: untouched
    event.refresh_from_db()
    assert (event.phone, event.raw_text) == (CALLER, "STOP please")
    purge = AuditEvent.objects.get(business=tenant_a.business, action="retention.purge")
    assert purge.detail["messages"] == 1 and purge.detail["recordings"] == 1
    assert AuditEvent.objects.filter(business=tenant_a.business).count() == audits_before + 1

    # a second run finds nothing and records nothing
    assert purge_expired(now=NOW) == {
        "businesses": 1,
        "messages": 0,
        "media_files": 0,
        "recordings": 0,
        "intake_submissions": 0,
    }
    assert AuditEvent.objects.filter(action="retention.purge").count() == 1


@pytest.mark.django_db
def test_purge_works_in_batches(tenant_a, number_a):
    keep_for(tenant_a.business, 30)
    for _ in range(7):
        message(tenant_a.business, number_a, created_at=OLD)
    assert purge_expired(now=NOW, batch_size=3)["messages"] == 7
    assert not Message.objects.exclude(body="").exists()


@pytest.mark.django_db
def test_the_task_runs_the_purge(tenant_a, number_a):
    keep_for(tenant_a.business, 30)
    message(tenant_a.business, number_a, created_at=timezone.now() - dt.timedelta(days=40))
    assert purge_expired_task.apply().get()["messages"] == 1


@pytest.mark.django_db(transaction=True)
def test_rows_held_by_another_run_are_skipped_not_waited_for(tenant_a, number_a):
    keep_for(tenant_a.business, 30)
    held = message(tenant_a.business, number_a, created_at=OLD)
    free = message(tenant_a.business, number_a, created_at=OLD)
    with held_elsewhere(lambda: list(Message.objects.select_for_update().filter(pk=held.pk))):
        assert purge_expired(now=NOW)["messages"] == 1  # returns at once instead of blocking on the held row
        assert Message.objects.get(pk=free.pk).body == "" and Message.objects.get(pk=held.pk).body
    assert purge_expired(now=NOW)["messages"] == 1  # the next run picks it up
    assert Message.objects.get(pk=held.pk).body == ""


@pytest.mark.django_db
def test_old_intake_answers_and_photos_are_purged(tenant_a):
    import datetime as dt

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from compliance.models import ComplianceSettings
    from compliance.privacy import purge_expired
    from intake.models import IntakePhoto, IntakeSubmission
    from intake.services import intake_link_for
    from tests.intake.conftest import image_bytes, open_conversation

    ComplianceSettings.objects.create(business=tenant_a.business, retention_days=30)
    link = intake_link_for(conversation=open_conversation(tenant_a.business))
    submission = IntakeSubmission.objects.create(
        business=tenant_a.business,
        link=link,
        conversation=link.conversation,
        name="Dana",
        address="12 Elm St",
        description="Leak",
        zip_code="94110",
    )
    photo = IntakePhoto(business=tenant_a.business, submission=submission, content_type="image/jpeg", size=10)
    photo.file.save("leak.jpg", ContentFile(image_bytes()), save=True)
    IntakeSubmission.objects.filter(pk=submission.pk).update(updated_at=timezone.now() - dt.timedelta(days=40))
    totals = purge_expired()
    submission.refresh_from_db()
    assert totals["intake_submissions"] == 1 and (submission.name, submission.address) == ("", "")
    assert not IntakePhoto.objects.exists()
    assert purge_expired()["intake_submissions"] == 0
