"""Privacy writes: erasing a caller on request and purging old message text and recordings (retention).

Neither ever touches what the law needs us to keep: the consent ledger's events, hashed numbers and times, and the
audit log. An erased caller's opt-out is still honoured because suppression reads the ledger by hashed number.
"""

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from compliance.models import ComplianceSettings, ConsentEvent, number_hash
from compliance.services import audit
from inbox.models import Contact, Conversation
from messaging.models import Message
from secdesk.phone import to_e164
from telephony.models import Call
from tenants.models import Business

logger = logging.getLogger(__name__)

RETENTION_MIN_DAYS = 30
RETENTION_MAX_DAYS = 3650
PURGE_BATCH_SIZE = 1000
# Outbound rows a worker may still send (or reconcile): their text is the work item, so retention waits for them.
IN_FLIGHT_STATUSES = (Message.Status.QUEUED, Message.Status.SENDING, Message.Status.UNKNOWN)
ERASED_FROM_RAW = "erased"


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed (or, from `erasure_preview`, would remove)."""

    messages: int = 0
    media_files: int = 0
    conversations: int = 0
    contacts: int = 0
    calls: int = 0  # calls kept but stripped of the caller's number, name and place
    recordings: int = 0  # of those calls, how many had a recording link
    consent_events: int = 0  # ledger rows whose number and wording were blanked (the events stay)

    @property
    def total(self) -> int:
        return self.messages + self.conversations + self.contacts + self.calls + self.consent_events

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _stored_paths(media_lists: Iterable[list]) -> list[str]:
    return [item["stored"] for media in media_lists for item in (media or []) if item.get("stored")]


def _delete_files_on_commit(paths: list[str]) -> None:
    """Delete stored files once the rows pointing at them are committed: a rolled-back transaction leaves both."""
    if not paths:
        return

    def delete() -> None:
        for path in paths:
            try:
                default_storage.delete(path)
            except Exception:  # a file we cannot delete now must not undo the erasure; it is logged for a person
                logger.exception("could not delete stored media %s", path)

    transaction.on_commit(delete)


def _caller_scope(*, business, phone: str):
    """The querysets an erasure works on, all scoped to `business`."""
    contact = Contact.objects.filter(business=business, phone=phone).first()
    messages = Message.objects.filter(business=business).filter(
        Q(direction=Message.Direction.INBOUND, from_number=phone)
        | Q(direction=Message.Direction.OUTBOUND, to_number=phone)
        | Q(conversation__contact__business=business, conversation__contact__phone=phone)
    )
    conversations = Conversation.objects.filter(business=business, contact__phone=phone)
    calls = Call.objects.filter(business=business).filter(Q(caller=phone) | Q(contact__phone=phone))
    ledger = ConsentEvent.objects.filter(business=business, phone_hash=number_hash(business.pk, phone)).exclude(
        phone="", raw_text=""
    )
    return contact, messages, conversations, calls, ledger


def erasure_preview(*, business, phone: str) -> ErasureReport:
    """Counts of what `erase_caller` would remove for `phone` (E.164 or anything `to_e164` accepts) in `business`.
    Reads only; raises secdesk.phone.InvalidPhoneNumber for a number that is not one."""
    phone = to_e164(phone)
    contact, messages, conversations, calls, ledger = _caller_scope(business=business, phone=phone)
    media = messages.exclude(media=[]).values_list("media", flat=True)
    return ErasureReport(
        messages=messages.count(),
        media_files=len(_stored_paths(media)),
        conversations=conversations.count(),
        contacts=1 if contact else 0,
        calls=calls.count(),
        recordings=calls.filter(~Q(recording_url="") | ~Q(recording_sid="")).count(),
        consent_events=ledger.count(),
    )


@transaction.atomic
def erase_caller(*, business, phone: str, actor, reason: str) -> ErasureReport:
    """Erase one caller's personal data from one business, on their request, in one transaction.

    Deletes the caller's messages in both directions (stored MMS files are deleted after commit), their
    conversations and their Contact. Calls are the business's own record of the inbound calls it received, so
    they are kept, but stripped of everything that identifies the caller: `caller` becomes "", `from_raw`
    becomes "erased", name, city, state and zip are blanked, and the recording link and sid are removed. On the
    consent ledger the number and the caller's wording are blanked while the kind, source reference, hashed
    number and times stay, so `compliance.suppression` (which reads by hash) still blocks texts to a number that
    opted out. One "contact.erase" audit entry records the counts and the hashed number, never the number.

    Guarantees: all or nothing; idempotent (erasing again reports zeros and only adds an audit entry); another
    business's data for the same number is untouched. Raises secdesk.phone.InvalidPhoneNumber for a bad number.
    Not erased: the copy of a recording at the carrier (only our link to it), and audit entries (legal evidence).
    """
    phone = to_e164(phone)
    phone_hash = number_hash(business.pk, phone)
    contact, messages, conversations, calls, ledger = _caller_scope(business=business, phone=phone)
    # Lock order everywhere is call, then contact, then message (the missed-call path locks its call before the
    # contact; the inbound path locks the contact before messages), so erasure takes them in that order too.
    call_ids = list(calls.select_for_update(of=("self",)).values_list("pk", flat=True))
    if contact is not None:
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
    # Conversations next (an intake submission locks its conversation before adding photos), then messages.
    locked_conversations = list(conversations.select_for_update(of=("self",)).values_list("pk", flat=True))

    message_rows = list(messages.select_for_update(of=("self",)).values_list("pk", "media"))
    message_ids = [pk for pk, _ in message_rows]
    paths = _stored_paths(media for _, media in message_rows)
    recordings = (
        Call.objects.filter(pk__in=call_ids).filter(~Q(recording_url="") | ~Q(recording_sid="")).count()
        if call_ids
        else 0
    )
    conversation_ids = locked_conversations
    # Intake photos go with their conversations (cascade); their files are deleted after commit with the MMS files.
    from intake.models import IntakePhoto

    paths = [
        *paths,
        *IntakePhoto.objects.filter(business=business, submission__conversation_id__in=conversation_ids).values_list(
            "file", flat=True
        ),
    ]

    # Calls first, so deleting the contact and conversations finds nothing left to SET_NULL.
    calls_updated = (
        Call.objects.filter(pk__in=call_ids).update(
            caller="",
            from_raw=ERASED_FROM_RAW,
            caller_name="",
            caller_city="",
            caller_state="",
            caller_zip="",
            recording_url="",
            recording_sid="",
            contact=None,
            conversation=None,
            updated_at=timezone.now(),
        )
        if call_ids
        else 0
    )
    # count per model: delete() also reports what it cascaded to
    messages_deleted = Message.objects.filter(pk__in=message_ids).delete()[1].get("messaging.Message", 0)
    conversations_deleted = (
        Conversation.objects.filter(pk__in=conversation_ids).delete()[1].get("inbox.Conversation", 0)
    )
    contacts_deleted = (
        Contact.objects.filter(pk=contact.pk).delete()[1].get("inbox.Contact", 0) if contact is not None else 0
    )
    consent_blanked = ledger.update(phone="", raw_text="")
    _delete_files_on_commit(paths)

    report = ErasureReport(
        messages=messages_deleted,
        media_files=len(paths),
        conversations=conversations_deleted,
        contacts=contacts_deleted,
        calls=calls_updated,
        recordings=recordings,
        consent_events=consent_blanked,
    )
    audit(
        business=business,
        actor=actor,
        action="contact.erase",
        target_type="contact",
        target_id=phone_hash[:16],
        phone_hash=phone_hash,
        reason=reason[:300],
        **report.as_dict(),
    )
    return report


@transaction.atomic
def retention_set(*, business, retention_days: int | None, actor) -> ComplianceSettings:
    """Set how many days message text and recordings are kept (None: forever). Validates the range, creates the
    settings row when missing, and audits the change. Idempotent: setting the same value writes no audit entry."""
    if retention_days is not None and not RETENTION_MIN_DAYS <= retention_days <= RETENTION_MAX_DAYS:
        raise ValueError(f"retention_days must be between {RETENTION_MIN_DAYS} and {RETENTION_MAX_DAYS}")
    settings, _ = ComplianceSettings.objects.select_for_update().get_or_create(business=business)
    before = settings.retention_days
    if before != retention_days:
        settings.retention_days = retention_days
        settings.save(update_fields=["retention_days", "updated_at"])
        audit(
            business=business,
            actor=actor,
            action="settings.retention",
            target=settings,
            before=before,
            after=retention_days,
        )
    return settings


def _purge_messages(*, business_id: int, cutoff: dt.datetime, batch_size: int) -> tuple[int, int]:
    """Blank old message text and media for one business, one batch per transaction. Rows another run holds
    are skipped (SKIP LOCKED) and left for that run; a blanked row no longer matches, so nothing is done twice."""
    purged = files = 0
    while True:
        with transaction.atomic():
            rows = list(
                Message.objects.select_for_update(skip_locked=True)
                .filter(business_id=business_id, created_at__lt=cutoff)
                .exclude(status__in=IN_FLIGHT_STATUSES)
                .exclude(body="", media=[])
                .order_by("pk")
                .values_list("pk", "media")[:batch_size]
            )
            if rows:
                Message.objects.filter(pk__in=[pk for pk, _ in rows]).update(body="", media=[])
                paths = _stored_paths(media for _, media in rows)
                _delete_files_on_commit(paths)
                purged += len(rows)
                files += len(paths)
        if len(rows) < batch_size:
            return purged, files


def _purge_recordings(*, business_id: int, cutoff: dt.datetime, batch_size: int) -> int:
    """Remove old recording links for one business, in batches, skipping rows another run holds."""
    purged = 0
    while True:
        with transaction.atomic():
            ids = list(
                Call.objects.select_for_update(skip_locked=True)
                .filter(business_id=business_id, started_at__lt=cutoff)
                .filter(~Q(recording_url="") | ~Q(recording_sid=""))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                Call.objects.filter(pk__in=ids).update(recording_url="", recording_sid="", updated_at=timezone.now())
                purged += len(ids)
        if len(ids) < batch_size:
            return purged


def _purge_intake(*, business_id: int, cutoff: dt.datetime, batch_size: int) -> tuple[int, int]:
    """Blank old intake answers (name, address, description...) and delete their photos, in batches."""
    from intake.models import IntakePhoto, IntakeSubmission

    purged = files = 0
    blank = {"name": "", "description": "", "address": "", "zip_code": "", "callback_window": ""}
    while True:
        with transaction.atomic():
            ids = list(
                IntakeSubmission.objects.select_for_update(skip_locked=True)
                .filter(business_id=business_id, updated_at__lt=cutoff)
                .filter(
                    ~Q(name="")
                    | ~Q(description="")
                    | ~Q(address="")
                    | ~Q(zip_code="")
                    | Exists(IntakePhoto.objects.filter(submission=OuterRef("pk")))
                )
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                photos = IntakePhoto.objects.filter(business_id=business_id, submission_id__in=ids)
                paths = list(photos.values_list("file", flat=True))
                photos.delete()
                IntakeSubmission.objects.filter(pk__in=ids).update(**blank)
                _delete_files_on_commit(paths)
                purged += len(ids)
                files += len(paths)
        if len(ids) < batch_size:
            return purged, files


def purge_expired(*, now: dt.datetime | None = None, batch_size: int = PURGE_BATCH_SIZE) -> dict[str, int]:
    """For every business with a retention period, blank what is older than `now - retention_days`: the text and
    media of messages (inbound and outbound; stored files are deleted after commit), the recording links of calls,
    and intake answers with their photos. Rows, calls and their metadata stay; the consent ledger and the audit log
    are never touched (legal evidence).

    Works in batches, each its own transaction with `SELECT ... FOR UPDATE SKIP LOCKED`, so two runs at once
    split the work instead of colliding, and a crash loses at most one batch of progress. Outbound messages a
    worker may still send are left until they settle. Idempotent and safe to retry: a purged row no longer
    matches. Writes one "retention.purge" audit entry per business where something was purged."""
    now = now or timezone.now()
    totals = {"businesses": 0, "messages": 0, "media_files": 0, "recordings": 0, "intake_submissions": 0}
    policies = ComplianceSettings.objects.filter(retention_days__isnull=False).values_list(
        "business_id", "retention_days"
    )
    for business_id, days in policies.order_by("business_id"):
        cutoff = now - dt.timedelta(days=days)
        messages, files = _purge_messages(business_id=business_id, cutoff=cutoff, batch_size=batch_size)
        recordings = _purge_recordings(business_id=business_id, cutoff=cutoff, batch_size=batch_size)
        intake, intake_files = _purge_intake(business_id=business_id, cutoff=cutoff, batch_size=batch_size)
        files += intake_files
        totals["intake_submissions"] += intake
        totals["businesses"] += 1
        totals["messages"] += messages
        totals["media_files"] += files
        totals["recordings"] += recordings
        if messages or recordings or intake:
            audit(
                business=Business(pk=business_id),
                action="retention.purge",
                target_type="business",
                target_id=business_id,
                retention_days=days,
                cutoff=cutoff.isoformat(),
                messages=messages,
                media_files=files,
                recordings=recordings,
                intake_submissions=intake,
            )
    return totals
