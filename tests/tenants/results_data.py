"""A hand-built week of calls, texts, intake forms and conversations for the results dashboard and the exports.

The business is on New York time (EST, UTC-5, in January and February). The week under test is Monday
2026-02-02 to Sunday 2026-02-08; the week before it (2026-01-26 to 2026-02-01) is the comparison period. Every
figure the tests assert is worked out by hand in the docstrings of tests/tenants/test_results.py."""

import datetime as dt
import zoneinfo
from decimal import Decimal

from compliance.models import ConsentEvent, number_hash
from inbox.escalation import TEST_CALLER_PHONE
from inbox.models import Contact, Conversation, ConversationTag, Tag
from intake.models import IntakeLink, IntakeSubmission
from messaging.models import Message
from telephony.models import Call
from tests.factories import CallFactory, PhoneNumberFactory

NY = zoneinfo.ZoneInfo("America/New_York")
WEEK = {"from": "2026-02-02", "to": "2026-02-08"}


def at(day: int, hour: int, minute: int = 0, month: int = 2) -> dt.datetime:
    """A local New York time in 2026 (February unless `month` says otherwise)."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=NY)


class Builder:
    """Rows for one business, with the timestamps the fixture needs (auto_now_add columns are set afterwards)."""

    def __init__(self, business, number_prefix: str, *, first_caller: int = 0):
        self.business = business
        self.number = PhoneNumberFactory(business=business, e164=f"+1628{number_prefix}0000")
        self._n = first_caller

    def _phone(self) -> str:
        self._n += 1
        return f"+1415555{self._n:04d}" if self.business.slug == "acme" else f"+1650555{self._n:04d}"

    def conversation(self, *, created: dt.datetime, phone: str | None = None, **fields) -> Conversation:
        contact = Contact.objects.create(
            business=self.business, phone=phone or self._phone(), **fields.pop("contact", {})
        )
        conversation = Conversation.objects.create(
            business=self.business, contact=contact, phone_number=self.number, last_activity_at=created, **fields
        )
        Conversation.objects.filter(pk=conversation.pk).update(created_at=created)
        conversation.refresh_from_db()
        return conversation

    def missed_call(
        self,
        *,
        started: dt.datetime,
        reason: str = "no_answer",
        decision: str = "texted",
        conversation: Conversation | None = None,
        caller: str | None = None,
        textback_after: float | None = None,
        queued_only: bool = False,
        status: str = "missed",
    ) -> Call:
        """A missed call that ended 20 s after it started; with `textback_after`, its text-back was queued then and
        accepted by the carrier that many seconds later (`queued_only`: never sent)."""
        ended = started + dt.timedelta(seconds=20)
        call = CallFactory(
            phone_number=self.number,
            caller=caller or (conversation.contact.phone if conversation else self._phone()),
            status=status,
            missed_reason=reason if status == "missed" else "",
            decision=decision,
            started_at=started,
            ended_at=ended,
            conversation=conversation,
            contact=conversation.contact if conversation else None,
        )
        if textback_after is not None or queued_only:
            message = Message.objects.create(
                business=self.business,
                conversation=conversation,
                phone_number=self.number,
                direction=Message.Direction.OUTBOUND,
                kind=Message.Kind.TEXTBACK,
                from_number=self.number.e164,
                to_number=call.caller,
                body="Sorry we missed you",
                status=Message.Status.QUEUED if queued_only else Message.Status.SENT,
                provider="twilio",
                idempotency_key=f"textback:{call.provider_call_id}",
                queued_at=ended,
                sent_at=None if queued_only else ended + dt.timedelta(seconds=textback_after),
            )
            Message.objects.filter(pk=message.pk).update(created_at=ended)
        return call

    def inbound(self, conversation: Conversation, *, when: dt.datetime, body: str = "Yes please") -> Message:
        message = Message.objects.create(
            business=self.business,
            conversation=conversation,
            phone_number=self.number,
            direction=Message.Direction.INBOUND,
            kind=Message.Kind.INBOUND,
            from_number=conversation.contact.phone,
            to_number=self.number.e164,
            body=body,
            status=Message.Status.RECEIVED,
            provider="twilio",
        )
        Message.objects.filter(pk=message.pk).update(created_at=when)
        return message

    def intake_link(self, conversation: Conversation, *, submitted: dt.datetime | None = None, **answers) -> IntakeLink:
        link = IntakeLink.objects.create(
            business=self.business,
            conversation=conversation,
            expires_at=conversation.created_at + dt.timedelta(days=14),
            submitted_at=submitted,
        )
        if submitted is not None:
            IntakeSubmission.objects.create(business=self.business, link=link, conversation=conversation, **answers)
        return link

    def consent(self, phone: str, kind: str, *, when: dt.datetime) -> None:
        event = ConsentEvent.objects.create(
            business=self.business, phone=phone, phone_hash=number_hash(self.business.pk, phone), kind=kind
        )
        ConsentEvent.objects.filter(pk=event.pk).update(created_at=when)

    def tag(self, conversation: Conversation, name: str) -> None:
        tag, _ = Tag.objects.get_or_create(business=self.business, name=name)
        ConversationTag.objects.create(business=self.business, conversation=conversation, tag=tag)


def build_week(business) -> dict:
    """Tenant A's fortnight: see tests/tenants/test_results.py for every figure it should produce."""
    b = Builder(business, "201")
    rows = {}

    # --- the week under test -----------------------------------------------------------------------------
    # conv1: texted 2 s after the call, replied, sent the intake form, booked for $250; first response 120 s
    conv1 = b.conversation(
        created=at(2, 9, 15),
        status=Conversation.Status.BOOKED,
        booked_value=Decimal("250.00"),
        first_response_at=at(2, 9, 17),
        contact={"name": "Dana Reyes", "zip_code": "94110"},
    )
    b.missed_call(started=at(2, 9, 15), reason="no_answer", conversation=conv1, textback_after=2)
    b.inbound(conv1, when=at(2, 9, 20))
    b.intake_link(
        conv1,
        submitted=at(2, 9, 30),
        service_type='=HYPERLINK("http://evil.test")',
        urgency="today",
        description="Leak under the sink",
        callback_window="@after 5pm",
    )
    b.tag(conv1, "Kitchen")
    b.tag(conv1, "-vip")
    # conv2: texted after 4 s, replied, link never submitted, lost; first response 600 s
    conv2 = b.conversation(
        created=at(2, 9, 40),
        status=Conversation.Status.LOST,
        lost_reason=Conversation.LostReason.PRICE,
        first_response_at=at(2, 9, 50),
    )
    b.missed_call(started=at(2, 9, 40), reason="busy", conversation=conv2, textback_after=4)
    b.inbound(conv2, when=at(2, 10, 0))
    b.intake_link(conv2)
    # conv3: called Wednesday 22:05 local (03:05 UTC Thursday), texted after 10 s; the caller's only text came
    # before the text-back, so it is not a reply
    conv3 = b.conversation(created=at(4, 22, 5))
    b.inbound(conv3, when=at(4, 22, 4))
    b.missed_call(started=at(4, 22, 5), reason="after_hours", conversation=conv3, textback_after=10)
    b.intake_link(conv3)
    # spam call Saturday 13:00: no text, no conversation
    b.missed_call(started=at(7, 13, 0), reason="no_answer", decision="spam")
    # conv4: Sunday 23:30 local (04:30 UTC Monday, still in the week): text-back still queued
    conv4 = b.conversation(created=at(8, 23, 30))
    b.missed_call(started=at(8, 23, 30), reason="no_answer", conversation=conv4, queued_only=True)
    b.intake_link(conv4)
    # conv5: started by a text, no call; booked for $100 with a first response after 300 s
    b.conversation(
        created=at(5, 11, 0),
        status=Conversation.Status.BOOKED,
        booked_value=Decimal("100.00"),
        first_response_at=at(5, 11, 5),
    )
    # opt-outs: conv2's caller twice (counted once), a carrier block for conv3's caller, a HELP (not an opt-out)
    b.consent(conv2.contact.phone, ConsentEvent.Kind.OPT_OUT, when=at(3, 8, 0))
    b.consent(conv2.contact.phone, ConsentEvent.Kind.OPT_OUT, when=at(3, 9, 0))
    b.consent(conv3.contact.phone, ConsentEvent.Kind.CARRIER_BLOCK, when=at(6, 8, 0))
    b.consent(conv1.contact.phone, ConsentEvent.Kind.HELP, when=at(3, 8, 0))

    # --- never counted -----------------------------------------------------------------------------------
    # an answered call, a call the next Monday 00:30 local, the escalation test run and a "Test"-tagged lead
    b.missed_call(started=at(3, 10, 0), status="answered", decision="not_missed")
    b.missed_call(started=at(9, 0, 30), reason="busy")
    test_run = b.conversation(
        created=at(3, 12, 0),
        phone=TEST_CALLER_PHONE,
        status=Conversation.Status.BOOKED,
        booked_value=Decimal("999.00"),
    )
    b.missed_call(started=at(3, 12, 0), conversation=test_run, textback_after=1)
    b.consent(TEST_CALLER_PHONE, ConsentEvent.Kind.OPT_OUT, when=at(3, 12, 5))
    tagged = b.conversation(created=at(3, 13, 0), status=Conversation.Status.BOOKED, booked_value=Decimal("500.00"))
    b.tag(tagged, "test")

    # --- the week before ---------------------------------------------------------------------------------
    # prev1: Wednesday Jan 28 10:00, texted after 6 s, no reply, booked for $80
    prev1 = b.conversation(
        created=at(28, 10, 0, month=1), status=Conversation.Status.BOOKED, booked_value=Decimal("80.00")
    )
    b.missed_call(started=at(28, 10, 0, month=1), conversation=prev1, textback_after=6)
    b.intake_link(prev1)
    # prev2: Sunday Feb 1 23:59 local (04:59 UTC Monday): still the week before; texted after 8 s and replied
    prev2 = b.conversation(created=at(1, 23, 59))
    b.missed_call(started=at(1, 23, 59), reason="busy", conversation=prev2, textback_after=8)
    b.inbound(prev2, when=at(2, 0, 10))
    b.intake_link(prev2)

    rows.update(conv1=conv1, conv2=conv2, conv3=conv3, conv4=conv4, test_run=test_run, tagged=tagged)
    return rows


def build_other_business(business) -> None:
    """Tenant B has a busy week too: none of it may show up in tenant A's figures or files."""
    b = Builder(business, "202")
    for day in (2, 3, 4):
        conversation = b.conversation(
            created=at(day, 9, 0), status=Conversation.Status.BOOKED, booked_value=Decimal("1000.00")
        )
        b.missed_call(started=at(day, 9, 0), reason="busy", conversation=conversation, textback_after=30)
        b.inbound(conversation, when=at(day, 9, 5))
        b.intake_link(conversation, submitted=at(day, 9, 10), service_type="Other business")
        b.consent(conversation.contact.phone, ConsentEvent.Kind.OPT_OUT, when=at(day, 10, 0))
