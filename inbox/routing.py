"""Automatic assignment of new conversations, as the owner set it on the Assignment page: manual (nobody is
assigned; operators pick conversations up), round robin among the members who are not away, or by ZIP code
territory.

Territory mode needs the caller's ZIP code, which is rarely known when a conversation starts. The best one at hand
is used: a ZIP the caller typed into an earlier intake form (`Contact.zip_code`), else the carrier's guess for the
calling number (a missed call's `CallerZip`), else the ZIP the caller types into this conversation's intake form.
- A ZIP inside one or more territories: round robin among the assignees of the territory with the longest matching
  prefix who are available; if none is, the next-longest match, and so on.
- A ZIP outside every territory, or no territory with anyone available: round robin among the whole team, so the
  caller still gets an answer (if only "sorry, we don't serve your area").
- No ZIP yet when the conversation starts: it waits, unassigned, for the caller's intake form, which routes it by
  the ZIP given, or by the whole team's round robin when the form gives none.

"Available" means a member of the conversation's business (someone who left is never picked, even if a territory
still lists them), with an active account, not marked away (no MemberSettings row means not away).
"""

import re

from django.db.models import QuerySet

from inbox import live
from inbox.models import Conversation, ConversationEvent, RoutingSettings, Territory
from secdesk.orm import preloaded
from tenants.models import Membership

_ZIP = re.compile(r"^([0-9]{5})(?:-[0-9]{4})?$")  # [0-9], not \d: ASCII digits only


def normalise_zip(value: str) -> str:
    """The 5-digit ZIP code in `value` ("94107", "94107-1234", " 94107 "), or "" for anything else."""
    match = _ZIP.match((value or "").strip())
    return match.group(1) if match else ""


def available_members(*, business_id: int, among: QuerySet | None = None) -> list[tuple[int, str]]:
    """(user id, display name) of the members who can take a new conversation now, in round-robin order (user
    id). `among`, a queryset of user ids (a territory's assignees), narrows them further."""
    memberships = Membership.objects.filter(business_id=business_id, user__is_active=True).exclude(
        inbox_settings__away=True
    )
    if among is not None:
        memberships = memberships.filter(user_id__in=among)
    rows = memberships.order_by("user_id").values_list("user_id", "user__full_name", "user__email")
    return [(user_id, full_name or email.split("@")[0]) for user_id, full_name, email in rows]


def next_in_turn(candidates: list[tuple[int, str]], last_assigned_id: int | None) -> tuple[int, str]:
    """Whoever follows the last person assigned, wrapping round. Works when the last person is no longer a
    candidate (away, left, removed from the territory): the turn passes to the next id after theirs."""
    if last_assigned_id is not None:
        for candidate in candidates:
            if candidate[0] > last_assigned_id:
                return candidate
    return candidates[0]


def _matching_territories(*, business_id: int, zip_code: str) -> list[Territory]:
    """The business's territories covering `zip_code`, longest matching prefix first, locked (in id order, the
    same order for every writer)."""
    prefixes = [zip_code[:length] for length in (3, 4, 5)]
    territories = list(
        Territory.objects.select_for_update()
        .filter(business_id=business_id, zip_prefixes__overlap=prefixes)
        .order_by("pk")
    )

    def longest(territory: Territory) -> int:
        return max(len(p) for p in territory.zip_prefixes if p in prefixes)

    # the settings page refuses one prefix in two territories; a tie from older data goes to the name first
    return sorted(territories, key=lambda t: (-longest(t), t.name.casefold(), t.pk))


def _mode(conversation: Conversation) -> str | None:
    loaded = preloaded(conversation, "business.routing_settings")
    if loaded is not ...:
        return loaded.mode if loaded is not None else None
    return RoutingSettings.objects.filter(business_id=conversation.business_id).values_list("mode", flat=True).first()


def route_new_conversation(conversation: Conversation, *, zip_code: str = "", wait_for_zip: bool = True) -> int | None:
    """Assign `conversation` by the business's rule if it is open and has no assignee yet; return the user id
    assigned, or None. Runs inside the transaction that created the conversation (or took the caller's intake
    answers), with the contact row locked by the caller.

    `zip_code`: the best ZIP known for the caller (see the module notes). `wait_for_zip`: in territory mode, leave
    a conversation without a ZIP unassigned for the intake form to route; False when no better ZIP will come.

    Locks, after the contact: the conversation, then the business's RoutingSettings row, then the matching
    territories; never the reverse. The round-robin pointer (RoutingSettings.last_assigned,
    Territory.last_assigned) is read and moved under those locks, so two conversations starting at once take
    turns: with two people free they go to two people. The price is that new conversations of a business that
    routes automatically are serialised until each transaction commits. Manual mode takes no lock at all.

    Writes a ConversationEvent "assigned" (actor None, the rule in its data) and tells open inbox pages."""
    business_id = conversation.business_id
    # Unlocked first: a business on manual routing (the default) pays this one read (none when the business came
    # with its settings loaded) and nothing else.
    mode = _mode(conversation)
    if mode in (None, RoutingSettings.Mode.MANUAL):
        return None
    unassigned = (
        Conversation.objects.select_for_update()
        .filter(
            pk=conversation.pk, business_id=business_id, assignee__isnull=True, status__in=Conversation.OPEN_STATUSES
        )
        .values_list("pk", flat=True)
        .first()
    )
    if unassigned is None:
        return None
    routing = RoutingSettings.objects.select_for_update().get(business_id=business_id)

    chosen, rule, pointer = None, "round_robin", routing
    if routing.mode == RoutingSettings.Mode.TERRITORY:
        zip5 = normalise_zip(zip_code)
        if not zip5 and wait_for_zip:
            return None
        territories = _matching_territories(business_id=business_id, zip_code=zip5) if zip5 else []
        for territory in territories:
            candidates = available_members(
                business_id=business_id,
                among=Territory.assignees.through.objects.filter(territory_id=territory.pk).values("user_id"),
            )
            if candidates:
                chosen = next_in_turn(candidates, territory.last_assigned_id)
                rule, pointer = f"territory:{territory.name}", territory
                break
    elif routing.mode != RoutingSettings.Mode.ROUND_ROBIN:  # the owner switched to manual since the first read
        return None
    if chosen is None:
        candidates = available_members(business_id=business_id)
        if not candidates:
            return None  # everyone is away: the conversation waits in "Unassigned"
        chosen = next_in_turn(candidates, routing.last_assigned_id)

    user_id, name = chosen
    type(pointer).objects.filter(pk=pointer.pk).update(last_assigned_id=user_id)
    Conversation.objects.filter(pk=conversation.pk).update(assignee_id=user_id)
    conversation.assignee_id = user_id
    ConversationEvent.objects.create(
        business_id=business_id,
        conversation_id=conversation.pk,
        kind=ConversationEvent.Kind.ASSIGNED,
        actor=None,
        data={"to": user_id, "to_name": name, "rule": rule},
    )
    live.touch(business_id, conversation.pk)
    return user_id


def out_of_area_reply(conversation: Conversation, *, zip_code: str):
    """Queue the owner's "sorry, we don't serve your area" text (ResponseSettings.out_of_area_reply) to a caller
    whose ZIP code, typed on the intake form, no territory covers. Returns the queued Message, or None.

    Only in territory mode, only when the business has territories (with none, every ZIP would be "outside") and
    the owner wrote a reply. Not on the carrier's guess of a ZIP: that is good enough to pick an assignee, not to
    turn a caller away. Once per conversation (the unique key "out_of_area:<conversation id>"), never to a number
    that opted out (checked here; the sending worker checks again). Runs inside the intake transaction with the
    contact and conversation locked. Writes the audit entry "conversation.out_of_area_reply"; the text itself shows
    in the timeline as an "Out-of-area reply"."""
    from compliance.services import audit, consent_state
    from inbox.canned import first_name_of, render
    from inbox.models import ResponseSettings
    from messaging.models import Message
    from messaging.services import message_queue_automatic
    from messaging.templating import OPT_OUT_FOOTER

    zip5 = normalise_zip(zip_code)
    business_id = conversation.business_id
    if not zip5 or not conversation.is_open or conversation.phone_number_id is None:
        return None
    mode = RoutingSettings.objects.filter(business_id=business_id).values_list("mode", flat=True).first()
    text = ResponseSettings.objects.filter(business_id=business_id).values_list("out_of_area_reply", flat=True).first()
    if mode != RoutingSettings.Mode.TERRITORY or not (text or "").strip():
        return None
    territories = Territory.objects.filter(business_id=business_id)
    if not territories.exists() or territories.filter(zip_prefixes__overlap=[zip5[:n] for n in (3, 4, 5)]).exists():
        return None
    business, contact, number = conversation.business, conversation.contact, conversation.phone_number
    if consent_state(business=business, phone=contact.phone) == "opted_out":
        return None
    body = render(text, first_name=first_name_of(contact.name), business_name=business.sender_name)
    texted_before = Message.objects.filter(
        business_id=business_id, to_number=contact.phone, direction=Message.Direction.OUTBOUND
    ).exists()
    if not texted_before and OPT_OUT_FOOTER.lower() not in body.lower():
        body = f"{body} {OPT_OUT_FOOTER}"  # the first text to a number says how to stop them
    message, created = message_queue_automatic(
        business=business,
        conversation=conversation,
        number=number,
        to=contact.phone,
        body=body,
        kind=Message.Kind.OUT_OF_AREA,
        key=f"out_of_area:{conversation.pk}",
        detail=f"out_of_area:{zip5}",
    )
    if not created:
        return None
    audit(
        business=business, action="conversation.out_of_area_reply", target=conversation, message_id=message.pk, zip=zip5
    )
    live.touch(business_id, conversation.pk)
    return message
