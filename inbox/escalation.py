"""Paging people about an urgent conversation until one of them takes it.

When a conversation becomes urgent (inbox.urgency.mark_urgent), `escalation_start` fixes the chain (inbox.on_call:
whoever is on call now, the backup, the owners, each once; members without a phone are left out, and with nobody
left no escalation starts: the urgent alert still goes out) and pages the first person at once: a text to their
own phone from the business's number ("URGENT Acme Plumbing: (415) 555-0100 'burst pipe in basement'. Reply 1 to
take it, or open <link>"). An `escalate` Timer row falls due `ack_minutes` later; when it fires and nobody has
acknowledged, the next person is paged, and so on. When the chain runs out the owners are told (an urgent alert
row each, plus a text) and the escalation ends "exhausted". Someone who left the team, lost their phone number or
replied STOP to the business's texts since the chain started is skipped when their turn comes (the timeline says
so), rather than waited on.

Acknowledging stops the chain and cancels the pending timer in the same transaction:
- any operator action on the conversation (inbox.actions.human_acted: reply, note, assign, status, call back...);
- a text from the paged member's own phone to the business number: one of ACK_WORDS ("1", "ACK", "OK"...), or
  "ACK 4821" with the code of one particular page when several are waiting (a bare "1" takes the latest);
- the link in the page: GET shows a confirmation page, POST (with CSRF) acknowledges.
A page taken by text or link also gives the member the conversation when nobody has it yet.

The link is /p/<escalation id>.<user id>.<signature>: an HMAC (django.core.signing with SECRET_KEY and its own
salt) over the escalation id, the paged member's id and the escalation's random ack code. It is texted only to that
member's phone, so holding it proves what a reply from that phone would, and it needs no login (an on-call
technician at 11 pm should not have to find a password). It can do exactly one thing, acknowledge that escalation
as that member while it runs, and its pages show no more than the text did. GET never changes anything, so a
messaging app's link preview cannot acknowledge. The conversation itself still needs a login.

Texts from members' phones (`page_reply_receive`, called by messaging.services.message_receive before a caller
conversation is opened): a text from a current member's phone while they have a running page in this business, or
an acknowledgement word from a member at any time, is a teammate answering a page, not a caller. The message row is
stored (idempotent by the carrier's id) outside any conversation and compliance keywords are applied to it first,
exactly as for a caller: a member's STOP is honoured (their alert and page texts stop; later pages pass over them), HELP
is answered. Only then is it read as an acknowledgement, or, if it is not one, kept and otherwise ignored: it never
opens a conversation, alerts anyone or reaches a caller. A caller's "1" (anyone not a member of this business) is
an ordinary caller message, and a member's ordinary text with no page waiting keeps the old path (a conversation
that alerts nobody).

Test escalations (`escalation_test`, the owner's button) run the real chain on a conversation with a fake caller
(TEST_CALLER_PHONE, named "Test caller", tagged "Test"; `Escalation.is_test`): the texts are real and start with
"TEST". Reports must leave out escalations with `is_test` and conversations of TEST_CALLER_PHONE. The test
conversation is closed when its chain ends by a text or link acknowledgement or runs out.

Locks: contact, then conversation (the order every writer uses), then the escalation row. Every write here runs with
the conversation locked, so the one-running-escalation index and the single pending timer are never contended.
"""

import datetime as dt
import logging
import re
import secrets
import unicodedata

from django.conf import settings as django_settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from compliance.services import audit, consent_state
from inbox import live
from inbox.models import (
    Contact,
    Conversation,
    ConversationEvent,
    ConversationTag,
    Escalation,
    Notification,
    Page,
    ResponseSettings,
    Tag,
    Timer,
)
from inbox.on_call import active_members, chain_preview
from inbox.timers import PENDING, handles, timer_cancel, timer_schedule
from inbox.urgency import response_settings_for
from messaging.models import Message
from messaging.segments import analyse
from secdesk.phone import pretty
from tenants.models import Business, Membership, User

logger = logging.getLogger(__name__)

Outcome = Escalation.Outcome
ESCALATE = Timer.Kind.ESCALATE

# Replies that take a page: trimmed, case-insensitive, surrounding punctuation ignored ("Ok!", " 1 ", "ACK.").
ACK_WORDS = frozenset({"1", "ack", "ok", "okay", "k", "on it", "got it", "mine", "taking it"})
_ACK_WITH_CODE = re.compile(r"^(?:ack|1|ok)\s*#?\s*(\d{4})$")
_TOKEN = re.compile(r"^(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{20,100})$")
PAGE_SALT = "inbox.escalation.page"
PAGE_MAX_SEGMENTS = 2
SUMMARY_CHARS = 60

TEST_CALLER_PHONE = "+15005550006"  # a number reserved for tests: never a real caller
TEST_CALLER_NAME = "Test caller"
TEST_TAG = "Test"
TEST_REASON = "Test of the escalation chain"


# --- starting and advancing ---------------------------------------------------------------------------------------


def escalation_start(*, conversation: Conversation, reason: str) -> Escalation | None:
    """Start paging for an urgent conversation: fix the chain and page its first person now. Run with the
    conversation locked (inside the transaction that made it urgent). Returns None, doing nothing, when the business
    turned paging off or a chain is already running for the conversation (a second urgent text joins it)."""
    settings = response_settings_for(conversation.business)
    if not settings.paging_enabled:
        return None
    return _start(conversation=conversation, reason=reason, settings=settings, is_test=False)


def _start(*, conversation: Conversation, reason: str, settings: ResponseSettings, is_test: bool) -> Escalation | None:
    """Fix the chain and page its first person; None when one is running already or nobody can be paged."""
    if Escalation.objects.filter(conversation=conversation, outcome=Outcome.RUNNING).exists():
        return None
    now = timezone.now()
    chain = [
        link.user.pk for link in chain_preview(conversation.business, at=now, settings=settings) if not link.skipped
    ]
    if not chain:
        # Nobody with a phone to page (the settings page says so); the urgent alert itself still goes out.
        audit(business=conversation.business, action="escalation.nobody_to_page", target=conversation, test=is_test)
        return None
    escalation = Escalation.objects.create(
        business_id=conversation.business_id,
        conversation=conversation,
        reason=reason[:200],
        chain=chain,
        ack_code=f"{1000 + secrets.randbelow(9000)}",
        is_test=is_test,
    )
    audit(
        business=conversation.business,
        action="escalation.start",
        target=conversation,
        escalation=escalation.pk,
        chain=chain,
        reason=reason[:200],
        test=is_test,
    )
    _page_next(escalation=escalation, conversation=conversation, first_step=0, settings=settings, now=now)
    return escalation


@handles(ESCALATE)
def escalation_timer_fired(timer: Timer, conversation: Conversation, now: dt.datetime) -> None:
    """Nobody acknowledged in time: page the next person, or end the chain. Runs inside the sweeper's firing
    transaction with the contact and conversation locked (inbox.timers), so it fires once; an escalation that
    ended meanwhile is left alone."""
    escalation = Escalation.objects.select_for_update().filter(pk=timer.escalation_id, outcome=Outcome.RUNNING).first()
    if escalation is None:
        return
    settings = response_settings_for(conversation.business)
    if not conversation.is_open:
        _cancel(escalation=escalation, conversation=conversation, now=now, why="the conversation was closed")
    elif not settings.paging_enabled and not escalation.is_test:
        _cancel(escalation=escalation, conversation=conversation, now=now, why="paging was turned off")
    else:
        _page_next(
            escalation=escalation, conversation=conversation, first_step=escalation.step + 1, settings=settings, now=now
        )


def _page_next(
    *, escalation: Escalation, conversation: Conversation, first_step: int, settings: ResponseSettings, now
) -> Page | None:
    """Page the first person from `first_step` on who can still be paged; nobody left ends the chain."""
    members = active_members(conversation.business_id)
    number = _from_number(conversation)
    skipped = []
    for step in range(first_step, len(escalation.chain)):
        membership = members.get(escalation.chain[step])
        why = _cannot_page(conversation.business, membership, number)
        if why:
            skipped.append({"to": escalation.chain[step], "to_name": _name_of(membership), "why": why})
            continue
        return _page(
            escalation=escalation,
            conversation=conversation,
            step=step,
            user=membership.user,
            number=number,
            settings=settings,
            now=now,
            skipped=skipped,
        )
    _exhaust(escalation=escalation, conversation=conversation, members=members, number=number, now=now, skipped=skipped)
    return None


def _cannot_page(business: Business, membership: Membership | None, number) -> str:
    if membership is None:
        return "no longer on the team"
    if not membership.user.phone:
        return "no phone number"
    if number is None:
        return "no business number to text from"
    if number.e164 == membership.user.phone:
        return "their phone is the business number"
    if consent_state(business=business, phone=membership.user.phone) == "opted_out":
        return "replied STOP to the business's texts"
    return ""


def _name_of(membership: Membership | None) -> str:
    return membership.user.display_name if membership is not None else "a former member"


def _from_number(conversation: Conversation):
    """The number the caller dialled, else the business's first number: pages come from the business."""
    from telephony.models import PhoneNumber

    if conversation.phone_number_id is not None:
        return conversation.phone_number
    return PhoneNumber.objects.filter(business_id=conversation.business_id).order_by("pk").first()


def _page(
    *,
    escalation: Escalation,
    conversation: Conversation,
    step: int,
    user: User,
    number,
    settings: ResponseSettings,
    now: dt.datetime,
    skipped: list[dict],
) -> Page:
    body = page_body(escalation=escalation, conversation=conversation, link=page_link(escalation, user.pk))
    message = _queue_text(
        business=conversation.business,
        number=number,
        to=user.phone,
        body=body,
        key=f"page:{escalation.pk}:{step}",
        detail=f"escalation:{escalation.pk}:{step}",
        trigger=Message.Trigger.RULE,
        now=now,
    )
    page = Page.objects.create(
        business_id=conversation.business_id, escalation=escalation, user=user, step=step, message=message
    )
    escalation.step = step
    escalation.save(update_fields=["step"])
    due = now + dt.timedelta(minutes=settings.ack_minutes)
    timer_schedule(conversation=conversation, kind=ESCALATE, due_at=due, escalation=escalation)
    data = {
        "to": user.pk,
        "to_name": user.display_name,
        "reason": escalation.reason,
        "step": step,
        "test": escalation.is_test,
        "summary": f"paged {user.display_name}" + (" (test)" if escalation.is_test else ""),
    }
    if skipped:
        data["skipped"] = skipped
    _event(conversation, None, data)
    audit(
        business=conversation.business,
        action="escalation.page",
        target=conversation,
        escalation=escalation.pk,
        to=user.pk,
        step=step,
        message=message.pk,
        skipped=[row["to"] for row in skipped],
    )
    live.touch(conversation.business_id, conversation.pk)
    return page


def _exhaust(
    *,
    escalation: Escalation,
    conversation: Conversation,
    members: dict[int, Membership],
    number,
    now: dt.datetime,
    skipped: list[dict],
) -> None:
    """Nobody took it: end the chain and tell the owners (an urgent alert row each, sent by email and/or text as
    they chose, plus a text now whatever they chose, when they have a phone)."""
    _end(escalation, Outcome.EXHAUSTED, now)
    business = conversation.business
    prefix = "TEST: " if escalation.is_test else ""
    caller = _caller(conversation)
    alert = f"{prefix}Nobody took the urgent page about {caller} - {_flat(escalation.reason, 120)}"
    owners = sorted((m.user for m in members.values() if m.role == Membership.Role.OWNER), key=lambda user: user.pk)
    Notification.objects.bulk_create(
        Notification(
            business_id=business.pk,
            user=owner,
            conversation=conversation,
            kind=Notification.Kind.URGENT,
            text=alert[:300],
            due_at=now,
        )
        for owner in owners
    )
    texted = []
    for owner in owners:
        if not owner.phone or number is None or number.e164 == owner.phone:
            continue
        link = _conversation_url(conversation)
        body = f"{prefix}{business.sender_name}: nobody took the urgent page about {caller}. Open {link}"
        _queue_text(
            business=business,
            number=number,
            to=owner.phone,
            body=body,
            key=f"page_exhausted:{escalation.pk}:{owner.pk}",
            detail=f"escalation:{escalation.pk}:exhausted",
            trigger=Message.Trigger.RULE,
            now=now,
        )
        texted.append(owner.pk)
    summary = "nobody took the pages; the owners were told" if escalation.pages.exists() else "nobody could be paged"
    data = {"outcome": Outcome.EXHAUSTED, "reason": escalation.reason, "test": escalation.is_test, "summary": summary}
    if skipped:
        data["skipped"] = skipped
    _event(conversation, None, data)
    audit(
        business=business,
        action="escalation.exhausted",
        target=conversation,
        escalation=escalation.pk,
        owners_told=[owner.pk for owner in owners],
        owners_texted=texted,
    )
    live.touch(business.pk, conversation.pk)
    if escalation.is_test:
        _close_test(conversation, now)


def _cancel(*, escalation: Escalation, conversation: Conversation, now: dt.datetime, why: str) -> None:
    _end(escalation, Outcome.CANCELLED, now)
    timer_cancel(conversation=conversation, kinds=[ESCALATE], reason="escalation cancelled")
    _event(
        conversation,
        None,
        {"outcome": Outcome.CANCELLED, "reason": escalation.reason, "summary": f"stopped paging: {why}"},
    )
    audit(
        business=conversation.business,
        action="escalation.cancel",
        target=conversation,
        escalation=escalation.pk,
        why=why,
    )
    live.touch(conversation.business_id, conversation.pk)


def _end(escalation: Escalation, outcome: str, now: dt.datetime) -> None:
    escalation.outcome, escalation.ended_at = outcome, now
    escalation.save(update_fields=["outcome", "ended_at"])


def _event(conversation: Conversation, actor, data: dict) -> ConversationEvent:
    """A timeline entry of kind "escalated" with rule "paging" (the answer-time timers use the same kind with rule
    "sla"): a page {"to", "to_name", "step", "skipped"?}, or an ending {"outcome", "by"?, "by_name"?, "via"?}; all
    carry "reason" (why the conversation is urgent) and "summary" (one line for the timeline)."""
    return ConversationEvent.objects.create(
        business_id=conversation.business_id,
        conversation=conversation,
        kind=ConversationEvent.Kind.ESCALATED,
        actor=actor,
        data={"rule": "paging", **data},
    )


# --- acknowledging ------------------------------------------------------------------------------------------------


def escalation_acknowledge(*, conversation: Conversation, user, via: str) -> bool:
    """A member acted on the conversation: a running chain stops, acknowledged by them, and its pending timer is
    cancelled in the same transaction. Run with the conversation locked (every operator action holds it). One
    indexed query when nothing is running (it runs on every reply and action). Returns whether it stopped one."""
    if user is None:
        return False
    escalation = (
        Escalation.objects.select_for_update().filter(conversation=conversation, outcome=Outcome.RUNNING).first()
    )
    if escalation is None:
        return False
    _acknowledge(escalation=escalation, conversation=conversation, user=user, via=via, now=timezone.now())
    return True


def _acknowledge(*, escalation: Escalation, conversation: Conversation, user: User, via: str, now: dt.datetime) -> None:
    escalation.acknowledged_by, escalation.acknowledged_at = user, now
    escalation.outcome, escalation.ended_at = Outcome.ACKNOWLEDGED, now
    escalation.save(update_fields=["acknowledged_by", "acknowledged_at", "outcome", "ended_at"])
    timer_cancel(conversation=conversation, kinds=[ESCALATE], reason="acknowledged")
    how = {"text": " by text", "link": " from the page's link"}.get(via, "")
    _event(
        conversation,
        user,
        {
            "outcome": Outcome.ACKNOWLEDGED,
            "by": user.pk,
            "by_name": user.display_name,
            "via": via,
            "reason": escalation.reason,
            "summary": f"took the urgent page{how}",
        },
    )
    audit(
        business=conversation.business,
        action="escalation.acknowledge",
        actor=user,
        target=conversation,
        escalation=escalation.pk,
        via=via,
    )
    live.touch(conversation.business_id, conversation.pk)


def _take(*, escalation: Escalation, conversation: Conversation, user: User, via: str) -> None:
    """A paged member took the page by text or link: acknowledge it, and give them the conversation when nobody
    has it (a test conversation is closed instead: the test is over)."""
    from inbox.actions import conversation_assign

    now = timezone.now()
    _acknowledge(escalation=escalation, conversation=conversation, user=user, via=via, now=now)
    if escalation.is_test:
        _close_test(conversation, now)
    elif conversation.assignee_id is None:
        conversation_assign(conversation=conversation, assignee=user, actor=user)


def _lock(conversation_id: int) -> Conversation:
    """Lock the conversation's contact, then the conversation (the global order), and return it fresh."""
    contact_id = Conversation.objects.filter(pk=conversation_id).values_list("contact_id", flat=True).get()
    Contact.objects.select_for_update().filter(pk=contact_id).get()
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("business", "contact", "phone_number")
        .get(pk=conversation_id)
    )


def _close_test(conversation: Conversation, now: dt.datetime) -> None:
    if not conversation.is_open:
        return
    before = conversation.status
    conversation.status, conversation.closed_at, conversation.snoozed_until = Conversation.Status.CLOSED, now, None
    conversation.save(update_fields=["status", "closed_at", "snoozed_until"])
    data = {"from": before, "to": Conversation.Status.CLOSED, "rule": "escalation_test"}
    ConversationEvent.objects.create(
        business_id=conversation.business_id,
        conversation=conversation,
        kind=ConversationEvent.Kind.STATUS,
        data=data,
    )
    audit(business=conversation.business, action="conversation.status", target=conversation, **data)
    live.touch(conversation.business_id, conversation.pk)


# --- the link in a page -------------------------------------------------------------------------------------------


def _signature(escalation_id: int | str, user_id: int | str, ack_code: str) -> str:
    return signing.Signer(salt=PAGE_SALT).signature(f"{escalation_id}.{user_id}.{ack_code}")


def page_token(escalation: Escalation, user_id: int) -> str:
    return f"{escalation.pk}.{user_id}.{_signature(escalation.pk, user_id, escalation.ack_code)}"


def page_link(escalation: Escalation, user_id: int) -> str:
    return django_settings.PUBLIC_BASE_URL + reverse("page_ack", args=[page_token(escalation, user_id)])


def page_from_token(token: str) -> tuple[Escalation, Membership] | None:
    """The escalation and the paged member a link names, or None when the link is not one of ours, was made for
    someone outside the chain, or its member has left the business."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    escalation_id, user_id, signature = match.groups()
    escalation = (
        Escalation.objects.select_related("business", "conversation__contact", "acknowledged_by")
        .filter(pk=int(escalation_id))
        .first()
    )
    if escalation is None or not constant_time_compare(
        signature, _signature(escalation_id, user_id, escalation.ack_code)
    ):
        return None
    if int(user_id) not in escalation.chain:
        return None
    membership = (
        Membership.objects.select_related("user")
        .filter(business_id=escalation.business_id, user_id=int(user_id), user__is_active=True)
        .first()
    )
    return (escalation, membership) if membership is not None else None


def page_link_acknowledge(*, escalation: Escalation, membership: Membership) -> Escalation:
    """The member pressed "I'll take it" on the link's page. Returns the escalation as it now stands: taken by
    them, or as it was when it had already ended (taken by someone else, or run out)."""
    with transaction.atomic():
        conversation = _lock(escalation.conversation_id)
        escalation = Escalation.objects.select_for_update().get(pk=escalation.pk)
        if escalation.outcome == Outcome.RUNNING:
            _take(escalation=escalation, conversation=conversation, user=membership.user, via="link")
    return Escalation.objects.select_related("business", "conversation__contact", "acknowledged_by").get(
        pk=escalation.pk
    )


# --- texts from members' phones -----------------------------------------------------------------------------------


def ack_reply(text: str) -> str | None:
    """What a member's text says about a page: "" (take the latest), a 4-digit code ("ACK 4821": take that one),
    or None (not an acknowledgement)."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = " ".join(text.strip(" \t\r\n.!?,;:'\"()[]").split())
    if text in ACK_WORDS:
        return ""
    match = _ACK_WITH_CODE.match(text)
    return match.group(1) if match else None


def page_reply_receive(*, number, sender: str, event) -> tuple[Message, bool] | None:
    """A text from a current member's phone that answers a page: any text while they have a running page in this
    business, or an acknowledgement ("1", "ACK 4821"...) at any time (a late "1" after someone else took it must
    not open a conversation with a teammate). The message is stored outside any conversation, compliance keywords
    are applied to it first, then the page is taken if it says so ("Got it - it's yours."; or who took it, or that
    it ended). Returns (message, created), or None when this is not such a text: a caller, or a teammate's ordinary
    text with no page waiting, which the caller path handles as before. Runs inside message_receive's transaction,
    before any caller row is touched; one indexed query for a caller (the business's members with that phone)."""
    from compliance.inbound import handle_keywords
    from messaging.services import inbound_store

    business = number.business
    member_ids = list(
        Membership.objects.filter(business=business, user__phone=sender, user__is_active=True).values_list(
            "user_id", flat=True
        )
    )
    if not member_ids:
        return None
    code = ack_reply(event.body)
    running = list(
        Page.objects.filter(business=business, user_id__in=member_ids, escalation__outcome=Outcome.RUNNING)
        .select_related("escalation", "user")
        .order_by("-created_at", "-pk")
    )
    if not running and code is None:
        return None
    message, created = inbound_store(number=number, event=event, sender=sender, conversation=None)
    if not created:  # the same webhook committed on another worker meanwhile
        return message, False
    # Compliance first, as for any inbound text: a member's STOP must stop the business's texts to them.
    if handle_keywords(message=message, number=number, carrier_opt_out_type=event.opt_out_type) != "none":
        return message, True
    if code is None:
        return message, True  # a teammate's text, not an answer: kept, and nobody is alerted
    pages = [page for page in running if not code or page.escalation.ack_code == code]
    page = pages[0] if pages else _latest_page(business, member_ids, code)
    if page is None:
        which = f"with the code {code} " if code else ""
        _reply(message, number, f"No urgent page {which}is waiting for you.")
        return message, True
    conversation = _lock(page.escalation.conversation_id)
    escalation = (
        Escalation.objects.select_for_update(of=("self",)).select_related("acknowledged_by").get(pk=page.escalation_id)
    )
    if escalation.outcome == Outcome.RUNNING:
        _take(escalation=escalation, conversation=conversation, user=page.user, via="text")
        body = f"Got it - it's yours: {_caller(conversation)}. {_conversation_url(conversation)}"
        waiting = len({p.escalation_id for p in running} - {escalation.pk})
        if waiting:
            body += f" {waiting} more urgent page{'s' if waiting > 1 else ''} waiting: reply 1 again to take the next."
    elif escalation.outcome == Outcome.ACKNOWLEDGED and escalation.acknowledged_by is not None:
        body = f"{escalation.acknowledged_by.display_name} already took it."
    else:
        body = "That page has ended."
    _reply(message, number, body)
    return message, True


def _latest_page(business: Business, member_ids: list[int], code: str) -> Page | None:
    pages = Page.objects.filter(business=business, user_id__in=member_ids).select_related("escalation", "user")
    if code:
        pages = pages.filter(escalation__ack_code=code)
    return pages.order_by("-created_at", "-pk").first()


def _reply(inbound: Message, number, body: str) -> Message:
    return _queue_text(
        business=inbound.business,
        number=number,
        to=inbound.from_number,
        body=body,
        key=f"page_reply:{inbound.provider_message_id or inbound.pk}",
        detail=f"page_reply:{inbound.provider_message_id}"[:120],
        trigger=Message.Trigger.SYSTEM,
        now=timezone.now(),
    )


# --- texts ------------------------------------------------------------------------------------------------------


def _flat(text: str, limit: int) -> str:
    """One line, straight quotes (curly ones would make the text UCS-2: half the characters per segment), cut."""
    text = " ".join((text or "").split())
    text = text.translate(str.maketrans({"\u201c": "'", "\u201d": "'", "\u2018": "'", "\u2019": "'"}))
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


def _caller(conversation: Conversation) -> str:
    if conversation.contact.phone == TEST_CALLER_PHONE:
        return TEST_CALLER_NAME
    return pretty(conversation.contact.phone)


def _conversation_url(conversation: Conversation) -> str:
    return django_settings.PUBLIC_BASE_URL + reverse("conversation", args=[conversation.business.slug, conversation.pk])


def page_body(*, escalation: Escalation, conversation: Conversation, link: str) -> str:
    """The page: the business, the caller, what they said (their latest text, else why it is urgent), how to take
    it. At most two segments: the caller's words are cut to fit."""
    latest = (
        Message.objects.filter(
            business_id=conversation.business_id, conversation=conversation, direction=Message.Direction.INBOUND
        )
        .exclude(body="")
        .order_by("-created_at")
        .values_list("body", flat=True)
        .first()
    )
    said = latest or escalation.reason
    prefix = "TEST " if escalation.is_test else ""
    head = f"{prefix}URGENT {conversation.business.sender_name}: {_caller(conversation)}"
    tail = f"Reply 1 to take it, or open {link}"
    for limit in (SUMMARY_CHARS, 40, 20):
        body = f"{head} '{_flat(said, limit)}'. {tail}"
        if analyse(body).segments <= PAGE_MAX_SEGMENTS:
            return body
    return f"{head}. {tail}"


def _queue_text(*, business, number, to: str, body: str, key: str, detail: str, trigger: str, now) -> Message:
    """Queue a page or a page reply to a member's phone from the business number: a team notification, in no
    caller's thread, sent by the normal sending path (suppression check included). Idempotent by `key`."""
    from messaging.services import message_queue_automatic

    message, _ = message_queue_automatic(
        business=business,
        number=number,
        to=to,
        body=body,
        kind=Message.Kind.NOTIFICATION,
        key=key,
        detail=detail,
        trigger=trigger,
        now=now,
    )
    return message


# --- the owner's test ---------------------------------------------------------------------------------------------


@transaction.atomic
def escalation_test(*, business: Business, user: User) -> Escalation:
    """Run the real chain on a simulated urgent conversation (caller "Test caller", TEST_CALLER_PHONE, tagged
    "Test"), so the owner sees every phone in the chain get its page. The pages are real texts marked TEST. Raises
    ValidationError, writing nothing, when paging is off, the business has no number to text from, nobody can be
    paged, or a test is already paging."""
    from inbox.services import contact_get_locked
    from telephony.models import PhoneNumber

    settings = response_settings_for(business)
    if not settings.paging_enabled:
        raise ValidationError("Paging is off, so an urgent case pages nobody. Turn paging on to test it.")
    number = PhoneNumber.objects.filter(business=business).order_by("pk").first()
    if number is None:
        raise ValidationError("Add a phone number first: pages are texted from the business's number.")
    now = timezone.now()
    contact = contact_get_locked(business=business, phone=TEST_CALLER_PHONE)
    if contact.name != TEST_CALLER_NAME:
        contact.name = TEST_CALLER_NAME
        contact.save(update_fields=["name"])
    conversation = (
        Conversation.objects.select_for_update()
        .filter(business=business, contact=contact, status__in=Conversation.OPEN_STATUSES)
        .first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(
            business=business, contact=contact, phone_number=number, last_activity_at=now
        )
    elif Escalation.objects.filter(conversation=conversation, outcome=Outcome.RUNNING).exists():
        raise ValidationError("A test is already paging: take it (reply 1 to the page) or wait for it to end.")
    conversation = Conversation.objects.select_related("business", "contact", "phone_number").get(pk=conversation.pk)
    before = conversation.priority
    conversation.priority, conversation.urgent_reason = Conversation.Priority.URGENT, TEST_REASON
    conversation.phone_number = conversation.phone_number or number
    conversation.last_activity_at = now
    conversation.save(update_fields=["priority", "urgent_reason", "phone_number", "last_activity_at"])
    tag = Tag.objects.filter(business=business, name__iexact=TEST_TAG).first() or Tag.objects.create(
        business=business, name=TEST_TAG
    )
    ConversationTag.objects.get_or_create(business=business, conversation=conversation, tag=tag)
    ConversationEvent.objects.create(
        business=business,
        conversation=conversation,
        kind=ConversationEvent.Kind.PRIORITY,
        actor=user,
        data={"from": before, "to": Conversation.Priority.URGENT, "reason": TEST_REASON},
    )
    audit(business=business, action="escalation.test", actor=user, target=conversation)
    escalation = _start(
        conversation=conversation,
        reason=f"{TEST_REASON}, started by {user.display_name}",
        settings=settings,
        is_test=True,
    )
    if escalation is None:
        raise ValidationError(
            "Nobody can be paged: give the people on call, the backup or an owner a phone number (under Team)."
        )
    live.touch(business.pk, conversation.pk)
    return escalation


# --- reading ------------------------------------------------------------------------------------------------------


def escalation_state(conversation: Conversation) -> dict | None:
    """The conversation's latest escalation as the conversation page shows it (templates/inbox/_escalation.html),
    or None when it never had one. Three queries, four while one runs."""
    escalation = (
        Escalation.objects.filter(business_id=conversation.business_id, conversation=conversation)
        .select_related("acknowledged_by")
        .order_by("-created_at", "-pk")
        .first()
    )
    if escalation is None:
        return None
    users = {user.pk: user for user in User.objects.filter(pk__in=escalation.chain)}
    pages = list(escalation.pages.select_related("message").order_by("step"))
    running = escalation.outcome == Outcome.RUNNING
    paged = [
        {
            "name": users[page.user_id].display_name if page.user_id in users else "a former member",
            "at": page.created_at,
            "text_status": page.message.get_status_display() if page.message else "",
            "text_failed": bool(
                page.message and page.message.status in (Message.Status.FAILED, Message.Status.UNDELIVERED)
            ),
            "text_error": page.message.error_message if page.message else "",
        }
        for page in pages
    ]
    next_at = next_name = None
    if running:
        next_at = (
            Timer.objects.filter(PENDING, conversation=conversation, kind=ESCALATE)
            .values_list("due_at", flat=True)
            .first()
        )
        later = [users[user_id] for user_id in escalation.chain[escalation.step + 1 :] if user_id in users]
        next_name = later[0].display_name if later else None
    return {
        "outcome": escalation.outcome,
        "outcome_label": escalation.get_outcome_display(),
        "running": running,
        "is_test": escalation.is_test,
        "reason": escalation.reason,
        "since": escalation.created_at,
        "ended_at": escalation.ended_at,
        "paged": paged,
        "current": paged[-1] if paged else None,
        "next_at": next_at,
        "next_name": next_name,
        "acknowledged_by": escalation.acknowledged_by.display_name if escalation.acknowledged_by else None,
        "acknowledged_at": escalation.acknowledged_at,
    }
