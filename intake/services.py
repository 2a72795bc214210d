"""Writes for the intake page: the conversation's link, a business's intake settings, and the caller's answers."""

import datetime as dt
import hashlib
import io
import secrets
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from compliance.models import ConsentEvent
from compliance.services import audit, consent_record
from inbox import live
from inbox.models import Contact, Conversation
from inbox.routing import out_of_area_reply, route_new_conversation
from inbox.sla import sla_start
from inbox.urgency import check_text, mark_urgent
from intake.i18n import (
    CALLBACK_WINDOW_LABELS,
    DEFAULT_CONFIRMATION_ES,
    DEFAULT_DISCLOSURE_ES,
    URGENCY_LABELS,
)
from intake.models import (
    DEFAULT_CONFIRMATION,
    DEFAULT_DISCLOSURE,
    DEFAULT_REQUIRED,
    DEFAULT_SHOWN,
    INTAKE_FIELDS,
    IntakeLink,
    IntakePhoto,
    IntakeSettings,
    IntakeSubmission,
)
from secdesk.orm import preloaded
from tenants.models import Business

DEFAULT_LINK_LIFETIME_DAYS = 14
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS_TOTAL_BYTES = 12 * 1024 * 1024
# Pillow format -> (content type, file extension). What a phone camera or gallery produces, minus HEIC (which
# Pillow cannot read without a plugin, and iOS converts to JPEG when uploading from a browser anyway).
PHOTO_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
# The text fields a submission stores, as named on IntakeSubmission.
SUBMISSION_FIELDS = tuple(name for name in INTAKE_FIELDS if name != "photos")


class IntakeUnavailable(Exception):
    """The link can no longer take answers."""


class IntakeExpired(IntakeUnavailable):
    pass


class IntakeClosed(IntakeUnavailable):
    """The conversation is no longer open (booked, lost or closed)."""


# --- settings and links ------------------------------------------------------------------------------------------


@transaction.atomic
def intake_settings_for(*, business: Business) -> IntakeSettings:
    """The business's intake settings, created with the defaults (every field shown, the description required, no
    service types) the first time they are needed. Idempotent and race-safe (the OneToOne on business)."""
    intake_settings, _ = IntakeSettings.objects.get_or_create(
        business=business,
        defaults={
            "fields_shown": list(DEFAULT_SHOWN),
            "fields_required": list(DEFAULT_REQUIRED),
            "service_types": [],
        },
    )
    return intake_settings


def intake_url(link: IntakeLink) -> str:
    """The short URL texted to the caller: PUBLIC_BASE_URL/i/<token>."""
    return settings.PUBLIC_BASE_URL + reverse("intake_page", args=[link.token])


def intake_link_for(*, conversation: Conversation, now: dt.datetime | None = None) -> IntakeLink:
    """The conversation's intake link, created on first use with an expiry of the business's
    `link_lifetime_days` (14 when the business has no intake settings yet; they are not created here, to keep the
    missed-call path to a read).

    Safe inside the missed-call transaction: it joins it, and the insert runs in a savepoint so a concurrent request
    that created the link first (the OneToOne on conversation is the arbiter) leaves this transaction usable; the
    winner's link is returned. A conversation created in the same transaction (`created_now`, cleared at commit)
    has no rival: its link is inserted without the savepoint.

    Idempotent: later calls return the same link; one that has expired while its conversation is still open (a
    caller calling again weeks later) gets a fresh expiry, so a text never carries a dead link."""
    now = now or timezone.now()
    fresh = getattr(conversation, "created_now", False)  # created in this transaction: it has none
    existing = None if fresh else IntakeLink.objects.filter(conversation=conversation).first()
    if existing is not None and existing.expires_at > now:
        return existing
    loaded = preloaded(conversation, "business.intake_settings")
    if loaded is ...:
        lifetime = (
            IntakeSettings.objects.filter(business_id=conversation.business_id)
            .values_list("link_lifetime_days", flat=True)
            .first()
        )
    else:
        lifetime = loaded.link_lifetime_days if loaded is not None else None
    expires_at = now + dt.timedelta(days=lifetime or DEFAULT_LINK_LIFETIME_DAYS)
    if existing is not None:
        IntakeLink.objects.filter(pk=existing.pk).update(expires_at=expires_at)
        existing.expires_at = expires_at
        return existing
    link = IntakeLink(business_id=conversation.business_id, conversation=conversation, expires_at=expires_at)
    if fresh:
        # Created in this transaction (inbox.services.conversation_open_for): nobody else can see it, so nobody
        # else can be creating its link (no savepoint round trips on the missed-call path).
        link.save(force_insert=True)
        return link
    try:
        with transaction.atomic():
            link.save(force_insert=True)
            return link
    except IntegrityError:
        return IntakeLink.objects.get(conversation=conversation)


@transaction.atomic(savepoint=False)
def intake_link_opened(*, link: IntakeLink, now: dt.datetime | None = None) -> bool:
    """Record the first time the caller opened the page. Only the first open counts (a conditional update, so two
    simultaneous opens record one time). Returns whether this call recorded it."""
    if link.opened_at is not None:
        return False
    now = now or timezone.now()
    updated = IntakeLink.objects.filter(pk=link.pk, opened_at__isnull=True).update(opened_at=now)
    if updated:
        link.opened_at = now
    return bool(updated)


def link_state(*, link: IntakeLink, now: dt.datetime | None = None) -> str:
    """ "expired", "closed" or "open": whether the link can still take answers. Reads link.conversation."""
    if link.expires_at <= (now or timezone.now()):
        return "expired"
    return "open" if link.conversation.status in Conversation.OPEN_STATUSES else "closed"


# --- wording the caller sees -------------------------------------------------------------------------------------


def disclosure_text(*, intake_settings: IntakeSettings, business: Business, language: str) -> str:
    """The exact words next to the consent checkbox: the business's own wording (shown as written, in whatever
    language the owner wrote it), or our default in the page's language. {business} becomes the sender name."""
    template = intake_settings.disclosure_text.strip() or (
        DEFAULT_DISCLOSURE_ES if language == "es" else DEFAULT_DISCLOSURE
    )
    return template.replace("{business}", business.sender_name)


def disclosure_fingerprint(text: str) -> str:
    """A short hash of a disclosure, carried in the form so a wording changed between showing and submitting is
    noticed (consent must be recorded with the words the caller actually read)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def confirmation_text(*, intake_settings: IntakeSettings, business: Business, language: str) -> str:
    """What happens next, in the business's words, or our default in the page's language."""
    template = intake_settings.confirmation_text.strip() or (
        DEFAULT_CONFIRMATION_ES if language == "es" else DEFAULT_CONFIRMATION
    )
    return template.replace("{business}", business.sender_name)


# --- photos ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedPhoto:
    upload: UploadedFile
    content_type: str
    extension: str
    size: int


def check_photo(upload: UploadedFile) -> CheckedPhoto:
    """Prove that `upload` is a JPEG, PNG or WebP image of at most MAX_PHOTO_BYTES. The file name and the browser's
    content type are ignored: Pillow must recognise the bytes and decode the whole image (a text file renamed
    .jpg, or a truncated photo, fails). Raises ValidationError with code "too_large" or "invalid_image"."""
    size = upload.size or 0
    if size > MAX_PHOTO_BYTES:
        raise ValidationError("Photo too large.", code="too_large")
    upload.seek(0)
    content = upload.read(MAX_PHOTO_BYTES + 1)
    upload.seek(0)
    if len(content) > MAX_PHOTO_BYTES:
        raise ValidationError("Photo too large.", code="too_large")
    try:
        with warnings.catch_warnings():
            # a "decompression bomb" declares a huge canvas in a small file: refuse it rather than decode it
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                image_format = image.format
                if image_format not in PHOTO_FORMATS:
                    raise ValidationError("Not a photo.", code="invalid_image")
                image.verify()
            with Image.open(io.BytesIO(content)) as image:
                image.load()
    except ValidationError:
        raise
    except Exception as exc:  # Pillow raises many types for bad input; all mean "not a usable photo"
        raise ValidationError("Not a photo.", code="invalid_image") from exc
    content_type, extension = PHOTO_FORMATS[image_format]
    return CheckedPhoto(upload=upload, content_type=content_type, extension=extension, size=len(content))


def _replace_photos(*, submission: IntakeSubmission, photos: Sequence[CheckedPhoto], written: list[str]) -> None:
    old = list(submission.photos.all())
    names = [p.file.name for p in old]
    storage = old[0].file.storage if old else None
    IntakePhoto.objects.filter(pk__in=[p.pk for p in old]).delete()
    if storage is not None:
        # files go only once the rows are surely gone; a rolled-back submission keeps its old photos
        transaction.on_commit(lambda: [storage.delete(name) for name in names])
    for photo in photos:
        row = IntakePhoto(
            business_id=submission.business_id,
            submission=submission,
            content_type=photo.content_type,
            size=photo.size,
        )
        photo.upload.seek(0)
        # a random name: the caller's own file name can carry personal details and never reaches the disk
        row.file.save(f"{secrets.token_urlsafe(12)}.{photo.extension}", photo.upload, save=False)
        written.append(row.file.name)
        row.save()


# --- submitting --------------------------------------------------------------------------------------------------


@transaction.atomic
def intake_submit(
    *,
    link: IntakeLink,
    data: Mapping[str, object],
    photos: Sequence[UploadedFile] | None,
    language: str,
    now: dt.datetime | None = None,
) -> IntakeSubmission:
    """Save the caller's answers for the link's conversation: create its submission, or update it while the
    conversation is open. The link alone decides the business and conversation.

    `data` holds cleaned values for SUBMISSION_FIELDS (missing keys are stored blank) and `consent` (bool).
    `photos`, when non-empty, replace the submission's photos (at most MAX_PHOTOS; each is checked again here).
    Also: the contact's name and ZIP are updated from non-blank answers; a tick of the consent box (a change from
    unticked) is recorded in the consent ledger with the exact disclosure shown; `on_intake_submitted` runs.

    One transaction; the contact, conversation and link rows are locked in that order (the order every writer
    uses: a missed call from the same caller locks its contact first too), so concurrent submissions for one link
    apply one after the other and never race a close or a text-back. Raises IntakeExpired or IntakeClosed;
    ValidationError for bad photos.
    """
    now = now or timezone.now()
    conversation_id = IntakeLink.objects.filter(pk=link.pk).values_list("conversation_id", flat=True).get()
    contact_id = Conversation.objects.filter(pk=conversation_id).values_list("contact_id", flat=True).get()
    Contact.objects.select_for_update().filter(pk=contact_id).get()
    conversation = (
        Conversation.objects.select_for_update(of=("self",)).select_related("contact").get(pk=conversation_id)
    )
    link = IntakeLink.objects.select_for_update(of=("self",)).select_related("business").get(pk=link.pk)
    link.conversation = conversation
    state = link_state(link=link, now=now)
    if state == "expired":
        raise IntakeExpired(link.token)
    if state == "closed":
        raise IntakeClosed(link.token)
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise ValidationError(f"At most {MAX_PHOTOS} photos.", code="too_many")
    checked = [check_photo(upload) for upload in photos]
    if sum(p.size for p in checked) > MAX_PHOTOS_TOTAL_BYTES:
        raise ValidationError("The photos are too large together.", code="too_large_total")

    written: list[str] = []  # photo files stored by this call: removed again if the transaction fails
    try:
        business = link.business
        intake_settings = intake_settings_for(business=business)
        submission = IntakeSubmission.objects.filter(link=link).first()
        created = submission is None
        if created:
            submission = IntakeSubmission(business=business, link=link, conversation=conversation)
        was_consenting = submission.consent_given
        for field in SUBMISSION_FIELDS:
            value = data.get(field) or ""
            setattr(submission, field, str(value).strip())
        submission.language = language
        if intake_settings.consent_enabled:
            shown = disclosure_text(intake_settings=intake_settings, business=business, language=language)
            # One-way: consent once given stays on the record; it is withdrawn by texting STOP (which the ledger
            # records), not by unticking a box, so the ledger and the submission never disagree.
            submission.consent_given = was_consenting or bool(data.get("consent"))
            submission.consent_disclosure = shown
        submission.save()

        if submission.consent_given and not was_consenting:
            consent_record(
                business=business,
                phone=conversation.contact.phone,
                kind=ConsentEvent.Kind.INTAKE_CONSENT,
                source_ref=f"intake:{submission.pk}",
                disclosure_text=submission.consent_disclosure,
            )
        if checked:
            _replace_photos(submission=submission, photos=checked, written=written)

        contact_changes = {}
        if submission.name:
            contact_changes["name"] = submission.name[:120]
        if submission.zip_code:
            contact_changes["zip_code"] = submission.zip_code
        if contact_changes:
            # an update of just these columns: the opted-out flag is the ledger's, never rewritten from a stale copy
            Contact.objects.filter(pk=conversation.contact_id).update(**contact_changes)
            for key, value in contact_changes.items():
                setattr(conversation.contact, key, value)

        IntakeLink.objects.filter(pk=link.pk).update(submitted_at=now)
        link.submitted_at = now
        on_intake_submitted(submission, created=created, now=now)
        return submission
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise


def on_intake_submitted(submission: IntakeSubmission, *, created: bool = True, now: dt.datetime | None = None) -> None:
    """Everything that follows a caller's answers. Runs inside intake_submit's transaction.

    The audit entry, the conversation's inbound and activity times (and "open" again when it was waiting on the
    caller or snoozed), the assignment rule for a conversation nobody has yet (territory routing waits for the ZIP
    typed here), urgency, the out-of-area reply for a ZIP outside every territory, and the answer-time timer. The
    audit entry carries no caller details (audit entries outlive a caller's erasure); the readable summary is
    rendered from the submission itself (`submission_summary`)."""
    now = now or timezone.now()
    audit(
        business=submission.business,
        action="intake.submitted",
        target=submission,
        first=created,
        conversation_id=submission.conversation_id,
        urgency=submission.urgency,
        photos=submission.photos.count(),
    )
    Conversation.objects.filter(pk=submission.conversation_id).update(last_inbound_at=now, last_activity_at=now)
    conversation = submission.conversation
    if conversation.status in (Conversation.Status.WAITING, Conversation.Status.SNOOZED):
        # the caller's answers put the ball back with the business, as a text from them does
        conversation.status = Conversation.Status.OPEN
        Conversation.objects.filter(pk=conversation.pk).update(status=conversation.status, snoozed_until=None)
    route_new_conversation(submission.conversation, zip_code=submission.zip_code, wait_for_zip=False)
    # after routing, so the new assignee is the one told
    if submission.urgency == IntakeSubmission.Urgency.EMERGENCY:
        mark_urgent(conversation=submission.conversation, reason="Emergency on the intake form")
    else:
        check_text(conversation=submission.conversation, text=submission.description, source="intake")
    out_of_area_reply(conversation, zip_code=submission.zip_code)
    sla_start(conversation=conversation, now=now)
    live.touch(submission.business_id, submission.conversation_id)
    from integrations import outbound

    outbound.intake_submitted(submission, first=created)


def submission_summary(submission: IntakeSubmission) -> str:
    """The caller's answers as a few readable English lines for the business's timeline; blank answers are left
    out. Free text is included as typed (the timeline escapes it when shown)."""
    urgency = URGENCY_LABELS["en"].get(submission.urgency, "")
    window = CALLBACK_WINDOW_LABELS["en"].get(submission.callback_window, submission.callback_window)
    customer = {"new": "New customer", "existing": "Existing customer"}.get(submission.customer_type, "")
    place = ", ".join(p for p in (submission.address, submission.zip_code) if p)
    lines = [
        ("Name", submission.name),
        ("Service", submission.service_type),
        ("Urgency", urgency),
        ("Call back", window),
        ("Customer", customer),
        ("Address", place),
        ("Description", submission.description),
    ]
    out = ["Intake form" + (f" (answered in {'Spanish' if submission.language == 'es' else 'English'})")]
    out += [f"{label}: {value}" for label, value in lines if value]
    if submission.pk is not None:
        photo_count = submission.photos.count()
        if photo_count:
            out.append(f"Photos: {photo_count}")
    out.append("Agreed to follow-up texts: " + ("yes" if submission.consent_given else "no"))
    return "\n".join(out)
