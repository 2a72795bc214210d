"""The sending engine. A message row is claimed with a conditional update, so however many tasks run for it, at
most one carrier request is made; a request whose fate is unknown is reconciled, never blindly resent.

State machine (outbound):  queued -> sending -> sent -> delivered | undelivered
                                    \\-> failed (permanent error, suppressed, retries exhausted)
                                    \\-> queued again with next_attempt_at (429 / 5xx / connect error)
                                    \\-> unknown (timeout after the request went out) -> sent | failed | queued
"""

import datetime as dt
import logging
import random
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from compliance.models import ComplianceSettings
from compliance.quiet_hours import next_allowed_send
from compliance.suppression import suppression_reason
from inbox import live
from inbox.models import Conversation
from messaging.errors import plain_error
from messaging.models import Message
from secdesk.crypto import InvalidToken
from secdesk.ttl import TTLCache
from telephony.models import CarrierCredential
from telephony.providers import get_provider
from telephony.providers.base import Credentials, LookupUnclear, SendError

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
TEXTBACK_VALIDITY_SECONDS = 900  # a text-back older than this is no longer "we just missed your call"
STUCK_SENDING_AFTER = dt.timedelta(seconds=settings.MESSAGING_STUCK_SENDING_SECONDS)
RECONCILE_AFTER = dt.timedelta(seconds=settings.MESSAGING_RECONCILE_AFTER_SECONDS)
RESEND_ABSENT_AFTER = dt.timedelta(seconds=settings.MESSAGING_RESEND_ABSENT_AFTER_SECONDS)
GIVE_UP_RECONCILING_AFTER = dt.timedelta(hours=1)
S = Message.Status


def backoff(attempt: int) -> dt.timedelta:
    """Exponential backoff with full jitter: ~1 s, 2 s, 4 s, 8 s (capped at 60 s)."""
    base = min(60.0, 2.0 ** (attempt - 1))
    return dt.timedelta(seconds=base / 2 + random.uniform(0, base / 2))


# A business's carrier account, reused per process for a couple of seconds like the webhooks' account tokens.
_credentials = TTLCache("TELEPHONY_CONFIG_CACHE_SECONDS")


def credentials_for(message: Message) -> Credentials | None:
    """The business's own carrier account for this provider, else the platform's (Twilio only), else None."""
    if message.provider != "twilio":
        return None
    credentials = _credentials.get(message.business_id, lambda: _load_credentials(message.business_id))
    if credentials is InvalidToken:
        raise SendError("The stored carrier token cannot be decrypted.", code="bad_creds", permanent=True)
    return credentials


def _load_credentials(business_id: int):
    credential = CarrierCredential.objects.filter(business_id=business_id, provider="twilio").first()
    if credential is not None:
        try:
            return Credentials(account_id=credential.account_sid, secret=credential.auth_token)
        except InvalidToken:
            return InvalidToken  # remembered like an answer, raised by credentials_for
    if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN:
        return Credentials(account_id=settings.TWILIO_ACCOUNT_SID, secret=settings.TWILIO_AUTH_TOKEN)
    return None


def status_callback_url(message_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('twilio-sms-status')}?{urlencode({'m': message_id})}"


def _claim(message_id: int) -> Message | None:
    """Move one due `queued` row to `sending` and return it, or None when there is nothing to claim (sent already,
    claimed by another worker, or not due). The suppression check runs here, under the row lock, so an opt-out
    committed before the claim always wins."""
    now = timezone.now()
    with transaction.atomic():
        message = _take(message_id, now)
        if message is None:
            return _claim_carefully(message_id, now)
        reason = suppression_reason(business_id=message.business_id, number=message.to_number, kind=message.kind)
        if reason:
            # Claimed to be checked, never attempted: as the careful path would leave it (a retried row keeps this
            # check's time as its last claim).
            message.attempts -= 1
            if message.attempts == 0:
                message.sending_at = None
            _fail(message, code=reason, now=now, also=("attempts", "sending_at"))
            return None
    return message


# The claim itself, in one statement: a due queued row that cannot be held for quiet hours moves to `sending`. A
# second worker's UPDATE waits for the first's lock, then finds the row no longer queued and takes nothing.
_TAKE = f"""
UPDATE {Message._meta.db_table} AS message SET status = %s, sending_at = %s, attempts = message.attempts + 1
WHERE message.id = %s AND message.status = %s AND message.direction = %s AND message.next_attempt_at <= %s
  AND message.kind <> ALL(%s)
  AND NOT (message.kind = %s AND EXISTS (
    SELECT 1 FROM {ComplianceSettings._meta.db_table} compliance
    WHERE compliance.business_id = message.business_id AND compliance.textback_waits_for_quiet_hours))
RETURNING *
"""  # noqa: S608 (table names from model meta, values bound)


def _take(message_id: int, now: dt.datetime) -> Message | None:
    """Claim the row when it is due and may go at any hour (the common case, in one statement); None otherwise,
    and the caller looks at it the careful way."""
    claimed = list(
        Message.objects.raw(
            _TAKE,
            [
                S.SENDING,
                now,
                message_id,
                S.QUEUED,
                Message.Direction.OUTBOUND,
                now,
                list(QUIET_HOURS_KINDS),
                Message.Kind.TEXTBACK,
            ],
        )
    )
    return claimed[0] if claimed else None


def _claim_carefully(message_id: int, now: dt.datetime) -> Message | None:
    """The claim of the rows `_take` leaves: none to claim (sent, claimed, not due, gone), or one that may be held
    for the recipient's quiet hours (deferred, not dropped: it keeps its place and the sweeper sends it when the
    window opens). Runs in the claim's transaction, with the row locked."""
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("business", "business__compliance_settings")
        .filter(pk=message_id, status=S.QUEUED, direction=Message.Direction.OUTBOUND)
        .filter(next_attempt_at__lte=now)
        .first()
    )
    if message is None:
        return None
    reason = suppression_reason(business_id=message.business_id, number=message.to_number, kind=message.kind)
    if reason:
        _fail(message, code=reason, now=now)
        return None
    if _waits_for_quiet_hours(message):
        allowed = next_allowed_send(message.to_number, now)
        if allowed > now:
            message.next_attempt_at = allowed
            message.error_message = f"Held for the recipient's quiet hours until {allowed:%Y-%m-%d %H:%M} UTC."
            message.save(update_fields=["next_attempt_at", "error_message"])
            return None
    message.status = S.SENDING
    message.sending_at = now
    message.attempts += 1  # exact: we hold the row lock
    message.save(update_fields=["status", "sending_at", "attempts"])
    return message


# Automated messages that are not an immediate answer to the caller wait for the recipient's quiet hours.
QUIET_HOURS_KINDS = (Message.Kind.FOLLOW_UP,)


def _waits_for_quiet_hours(message: Message) -> bool:
    if message.kind in QUIET_HOURS_KINDS:
        return True
    if message.kind == Message.Kind.TEXTBACK:
        try:
            return message.business.compliance_settings.textback_waits_for_quiet_hours
        except ComplianceSettings.DoesNotExist:
            return False  # default: the text-back answers the caller's own call and goes at once
    return False


def _fail(message: Message, *, code: str, now: dt.datetime, detail: str = "", also: tuple[str, ...] = ()) -> None:
    message.status = S.FAILED
    message.error_code = code[:10]
    message.error_message = plain_error(code, detail)
    message.failed_at = now
    message.next_attempt_at = None
    message.status_rank = max(message.status_rank, 4)
    fields = ["status", "error_code", "error_message", "failed_at", "next_attempt_at", "status_rank", *also]
    message.save(update_fields=fields)


def send_message(*, message_id: int) -> str:
    """Send one outbound message if it is due and still queued. Safe to call any number of times, from any
    number of workers: only the claim winner talks to the carrier. Returns what happened (for logs and tests)."""
    message = _claim(message_id)
    if message is None:
        return "nothing to claim"
    provider = get_provider(message.provider)
    try:
        result = provider.send_message(
            credentials=credentials_for(message),
            from_=message.from_number,
            to=message.to_number,
            body=message.body,
            media_urls=[m["url"] for m in message.media if m.get("url")],
            status_callback=status_callback_url(message.pk),
            validity_period=TEXTBACK_VALIDITY_SECONDS if message.kind == Message.Kind.TEXTBACK else None,
        )
    except SendError as error:
        return _record_error(message, error)
    except Exception:
        # A bug or an unexpected client error after the claim: we cannot know if the request left, so reconcile.
        logger.exception("unexpected error sending message %s", message.pk)
        return _record_error(message, SendError("unexpected error", code="timeout", ambiguous=True))
    _record_sent(message, result.provider_message_id)
    if getattr(provider, "simulated_delivery", False):
        from messaging.services import message_apply_status

        message_apply_status(provider_message_id=result.provider_message_id, status="delivered", error_code="")
    return "sent"


# A message the carrier accepted. A status callback that got here first (status_rank 3 or more: sent, delivered,
# undelivered, failed) keeps its status and time, and a carrier id learnt from it is kept.
_RECORD_SENT = f"""
UPDATE {Message._meta.db_table} SET
  provider_message_id = COALESCE(provider_message_id, %(sid)s),
  status = CASE WHEN status_rank >= 3 THEN status ELSE %(sent)s END,
  sent_at = CASE WHEN status_rank >= 3 THEN sent_at ELSE %(now)s END,
  status_rank = GREATEST(status_rank, 3), next_attempt_at = NULL, error_code = '', error_message = ''
WHERE id = %(id)s
"""  # noqa: S608 (table name from model meta, values bound)
# Its conversation's last outbound time, never moved back (an operator's reply may have committed meanwhile).
_CONVERSATION_SENT = f"""
UPDATE {Conversation._meta.db_table} SET last_outbound_at = GREATEST(last_outbound_at, %(now)s) WHERE id = %(id)s
"""  # noqa: S608 (table name from model meta, values bound)


def _record_sent(message: Message, provider_message_id: str) -> None:
    """The carrier accepted the message (_RECORD_SENT). A text to a caller also moves its conversation's last
    outbound time (a team notification belongs to no caller's thread). Two statements, each committed on its own:
    the message's lock is never held while waiting for the conversation's (erasure takes them the other way)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SENT, {"sid": provider_message_id, "sent": S.SENT, "now": now, "id": message.pk})
        if message.conversation_id is not None and message.kind != Message.Kind.NOTIFICATION:
            cursor.execute(_CONVERSATION_SENT, {"now": now, "id": message.conversation_id})
            live.touch(message.business_id, message.conversation_id)


def _record_error(message: Message, error: SendError) -> str:
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.status != S.SENDING:
            return "already settled"
        if message.conversation_id is not None:
            live.touch(message.business_id, message.conversation_id)
        if error.ambiguous:
            message.status = S.UNKNOWN
            message.error_code = error.code[:10]
            message.error_message = plain_error(error.code)
            message.next_attempt_at = now + RECONCILE_AFTER
            message.save(update_fields=["status", "error_code", "error_message", "next_attempt_at"])
            return "unknown"
        if error.retryable and message.attempts < MAX_ATTEMPTS:
            message.status = S.QUEUED
            message.error_code = (error.code or str(error.http_status or ""))[:10]
            message.error_message = f"Retrying: {plain_error(message.error_code, str(error))}"[:300]
            message.next_attempt_at = now + backoff(message.attempts)
            message.save(update_fields=["status", "error_code", "error_message", "next_attempt_at"])
            return "retry"
        code = error.code or str(error.http_status or "")
        if error.retryable:
            _fail(message, code="exhausted", now=now)
            return "failed"
        _fail(message, code=code, now=now, detail=error.message)
    if code == "21610":
        # After the message's transaction: the opt-out locks the contact (lock order: contact before message).
        from compliance.services import consent_carrier_block

        consent_carrier_block(business=message.business, number=message.to_number, message=message)
    return "failed"


def reconcile_message(*, message_id: int) -> str:
    """Settle a message whose send may or may not have reached the carrier, never resending it blindly: the status
    callback (our id is in its URL) or a lookup at the carrier finding it means sent. A lookup that answers without
    it — no message at all from our number to theirs since the attempt — RESEND_ABSENT_AFTER after the attempt
    (long after the carrier lists a message it took) means the request never reached the carrier (a worker died
    before sending, or the carrier dropped it unaccepted): it is queued again through the normal claim, while it
    has attempts left. It ends `failed` ("unconfirmed") for a person to follow up when the carrier lists other
    messages but not clearly this one, when it has no attempts left, when lookups keep failing for an hour, or
    when the provider cannot look messages up."""
    now = timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=S.UNKNOWN, next_attempt_at__lte=now)
            .first()
        )
        if message is None:
            return "nothing to reconcile"
        # Lease it: another sweep will not pick it up while we ask the carrier.
        message.next_attempt_at = now + RECONCILE_AFTER
        message.save(update_fields=["next_attempt_at"])
    provider = get_provider(message.provider)
    lookup = getattr(provider, "lookup_message", None)
    attempted_at = message.sending_at or message.created_at
    found, unreadable, looked_up, unclear = None, "", False, False
    try:
        credentials = credentials_for(message)
    except SendError as error:
        credentials, unreadable = None, error.code
    if lookup is not None and credentials is not None:
        try:
            found = lookup(
                credentials=credentials,
                to=message.to_number,
                from_=message.from_number,
                body=message.body,
                since=attempted_at - dt.timedelta(minutes=1),
            )
            looked_up = True
        except LookupUnclear:
            unclear = True
        except Exception:
            logger.warning("lookup for message %s failed; will try again", message.pk, exc_info=True)
    if found is not None:
        _record_sent(message, found.provider_message_id)
        return "reconciled: sent"
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.status != S.UNKNOWN:
            return "already settled"  # a status callback got there first
        if unreadable:
            _fail(message, code=unreadable, now=now)
            return "reconciled: credentials unreadable"
        if unclear:
            _fail(message, code="unconfirmed", now=now)
            return "reconciled: unclear at the carrier, unconfirmed"
        absent = looked_up and now - attempted_at >= RESEND_ABSENT_AFTER
        if absent and message.attempts < MAX_ATTEMPTS:
            message.status = S.QUEUED
            message.next_attempt_at = now
            message.error_message = "The carrier never received this message; sending it again."
            message.save(update_fields=["status", "next_attempt_at", "error_message"])
            from messaging.services import enqueue_send

            enqueue_send(message.pk)
            return "reconciled: not at the carrier, queued again"
        if absent or now - attempted_at >= GIVE_UP_RECONCILING_AFTER or lookup is None:
            _fail(message, code="unconfirmed", now=now)
            return "reconciled: unconfirmed"
    return "reconcile later"


SWEEP_GRACE = dt.timedelta(seconds=2)  # leave the on-commit fast path time to run first
SWEEP_REENQUEUE_EVERY = dt.timedelta(seconds=settings.MESSAGING_SWEEP_REENQUEUE_SECONDS)
SWEEP_BATCH = 500


def sweep_outbound() -> dict[str, int]:
    """Re-enqueue what Redis lost or a dead worker dropped. Every row it touches is taken with FOR UPDATE SKIP
    LOCKED, so two sweepers running at once split the work instead of doubling it; enqueueing a row twice is
    harmless anyway, as sending claims the row first."""
    from messaging.tasks import reconcile_message_task, send_message_task

    now = timezone.now()
    with transaction.atomic():
        due = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=S.QUEUED, direction=Message.Direction.OUTBOUND, next_attempt_at__lte=now - SWEEP_GRACE)
            .exclude(swept_at__gt=now - SWEEP_REENQUEUE_EVERY)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        Message.objects.filter(pk__in=due).update(swept_at=now)
        stuck = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=S.SENDING, sending_at__lt=now - STUCK_SENDING_AFTER)
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        # A worker died holding these: the request may or may not have gone out.
        Message.objects.filter(pk__in=stuck).update(
            status=S.UNKNOWN, next_attempt_at=now, error_code="timeout", error_message=plain_error("timeout")
        )
        unknown = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=S.UNKNOWN, next_attempt_at__lte=now)
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )

        def ring():
            for pk in due:
                send_message_task.delay(pk)
            for pk in unknown:
                reconcile_message_task.delay(pk)

        transaction.on_commit(ring)
    return {"requeued": len(due), "stuck": len(stuck), "reconcile": len(unknown)}
