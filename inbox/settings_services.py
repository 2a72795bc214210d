"""Writes behind the owner's inbox settings pages: the assignment rule and its territories, and canned replies.

Every function is keyword-only, runs in one transaction, checks what it is given (a caller that skipped the form
still cannot store a prefix in two territories, a stranger as an assignee or a reply with an unknown variable) and
writes an audit entry.
"""

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from compliance.services import audit
from inbox.canned import MAX_CANNED_REPLIES, normalise_body, validate_body
from inbox.models import CannedReply, RoutingSettings, Territory
from tenants.models import Business, Membership, User

MAX_PREFIXES_PER_TERRITORY = 1000
_PREFIX = re.compile(r"^[0-9]{3,5}$")  # [0-9], not \d: ASCII digits only
_PREFIX_SEPARATORS = re.compile(r"[\s,;]+")


# --- assignment rule ----------------------------------------------------------------------------------------------


def routing_settings_or_default(*, business: Business) -> RoutingSettings:
    """The business's routing settings, or an unsaved row with the defaults (manual). Writes nothing."""
    return RoutingSettings.objects.filter(business=business).first() or RoutingSettings(business=business)


def _routing_settings_locked(business: Business) -> RoutingSettings:
    """The business's routing settings row, created if missing, locked. Every write to routing settings or
    territories takes it first: the same order as routing itself (routing settings, then territories), and one
    lock that makes the duplicate-prefix check race-free."""
    RoutingSettings.objects.get_or_create(business=business)
    return RoutingSettings.objects.select_for_update().get(business=business)


@transaction.atomic
def routing_mode_update(*, business: Business, mode: str, actor: User | None) -> RoutingSettings:
    """Set how new conversations get an assignee. Audit "routing.mode_update" when it changes."""
    if mode not in RoutingSettings.Mode.values:
        raise ValidationError({"mode": "Choose one of the assignment rules listed."})
    routing = _routing_settings_locked(business)
    if routing.mode != mode:
        previous = routing.mode
        routing.mode = mode
        routing.save(update_fields=["mode", "updated_at"])
        audit(business=business, action="routing.mode_update", actor=actor, target=routing, old=previous, new=mode)
    return routing


# --- territories --------------------------------------------------------------------------------------------------


def parse_zip_prefixes(text: str) -> list[str]:
    """ZIP codes and prefixes typed as a list ("94107, 94110 941" or one per line) -> sorted, without repeats.
    Raises ValidationError naming every entry that is not 3 to 5 digits."""
    items = [item for item in _PREFIX_SEPARATORS.split(text or "") if item]
    bad = list(dict.fromkeys(item for item in items if not _PREFIX.match(item)))
    if bad:
        shown = ", ".join(f"“{item[:12]}”" for item in bad[:5]) + (" …" if len(bad) > 5 else "")
        raise ValidationError(
            f"{shown} {'is not a ZIP code or prefix' if len(bad) == 1 else 'are not ZIP codes or prefixes'}: "
            "use 3 to 5 digits, like 941 (every ZIP code starting 941) or 94107.",
            code="invalid",
        )
    prefixes = sorted(set(items))
    if not prefixes:
        raise ValidationError("List at least one ZIP code or prefix.", code="required")
    if len(prefixes) > MAX_PREFIXES_PER_TERRITORY:
        raise ValidationError(
            f"At most {MAX_PREFIXES_PER_TERRITORY} ZIP codes or prefixes per territory ({len(prefixes)} given): "
            "a 3-digit prefix covers a whole area.",
            code="too_many",
        )
    return prefixes


def _validate_territory(
    *, business: Business, territory: Territory | None, name: str, zip_prefixes: list[str], assignee_ids: set[int]
) -> None:
    """Name free (case-insensitively), no prefix already in another territory, assignees all members. Runs with
    the routing settings row locked, so two saves cannot both pass the checks."""
    errors: dict[str, list[str]] = {}
    others = Territory.objects.filter(business=business)
    if territory is not None:
        others = others.exclude(pk=territory.pk)
    if not name:
        errors["name"] = ["Give the territory a name, e.g. “North side”."]
    elif len(name) > Territory._meta.get_field("name").max_length:
        errors["name"] = [f"Keep the name to {Territory._meta.get_field('name').max_length} characters."]
    elif others.filter(name__iexact=name).exists():
        errors["name"] = [f"There is already a territory called “{name}”."]
    taken = []
    for other in others.filter(zip_prefixes__overlap=zip_prefixes).order_by("name"):
        shared = sorted(set(other.zip_prefixes) & set(zip_prefixes))
        taken.append(f"{', '.join(shared[:5])}{' …' if len(shared) > 5 else ''} (in “{other.name}”)")
    if taken:
        errors["zip_prefixes"] = [
            "A ZIP code or prefix can be in one territory only: " + "; ".join(taken) + ". "
            "A longer prefix inside another territory's shorter one is fine (94107 inside 941): the longer one wins."
        ]
    members = set(
        Membership.objects.filter(business=business, user_id__in=assignee_ids).values_list("user_id", flat=True)
    )
    if members != assignee_ids:
        errors["assignees"] = ["Choose people on your team only."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def territory_save(
    *,
    business: Business,
    territory: Territory | None = None,
    name: str,
    zip_prefixes: Iterable[str],
    assignees: Iterable[User],
    actor: User | None,
) -> Territory:
    """Create a territory (`territory` None) or update one of the business's. `zip_prefixes` are checked again
    (3 to 5 digits each). Audit "routing.territory_create" / "routing.territory_update"."""
    if territory is not None and territory.business_id != business.pk:
        raise ValueError("territory of another business")
    name = " ".join((name or "").split())
    prefixes = parse_zip_prefixes(" ".join(zip_prefixes))
    people = list(assignees)
    _routing_settings_locked(business)
    _validate_territory(
        business=business, territory=territory, name=name, zip_prefixes=prefixes, assignee_ids={u.pk for u in people}
    )
    created = territory is None
    if created:
        territory = Territory(business=business)
    else:
        territory = Territory.objects.select_for_update().get(pk=territory.pk, business=business)
    territory.name = name
    territory.zip_prefixes = prefixes
    territory.save()
    territory.assignees.set(people)
    audit(
        business=business,
        action="routing.territory_create" if created else "routing.territory_update",
        actor=actor,
        target=territory,
        name=name,
        zip_prefixes=prefixes,
        assignees=sorted(u.pk for u in people),
    )
    return territory


@transaction.atomic
def territory_delete(*, territory: Territory, actor: User | None) -> None:
    """Remove a territory. Conversations it already assigned keep their assignee. Audit
    "routing.territory_delete"."""
    business = territory.business
    _routing_settings_locked(business)
    audit(business=business, action="routing.territory_delete", actor=actor, target=territory, name=territory.name)
    Territory.objects.filter(pk=territory.pk, business=business).delete()


# --- canned replies -----------------------------------------------------------------------------------------------


def _validate_canned_reply(*, business: Business, reply: CannedReply | None, title: str, body: str) -> None:
    errors: dict[str, list[str]] = {}
    max_title = CannedReply._meta.get_field("title").max_length
    others = CannedReply.objects.filter(business=business)
    if reply is not None:
        others = others.exclude(pk=reply.pk)
    if not title:
        errors["title"] = ["Give the reply a short title, e.g. “On our way”."]
    elif len(title) > max_title:
        errors["title"] = [f"Keep the title to {max_title} characters."]
    elif others.filter(title__iexact=title).exists():
        errors["title"] = [f"You already have a canned reply called “{title}”."]
    try:
        validate_body(body)
    except ValidationError as exc:
        errors["body"] = exc.messages
    if reply is None and others.count() >= MAX_CANNED_REPLIES:  # a soft cap: it keeps the composer light
        errors.setdefault("title", []).append(
            f"At most {MAX_CANNED_REPLIES} canned replies: delete one you no longer use first."
        )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def canned_reply_save(
    *, business: Business, reply: CannedReply | None = None, title: str, body: str, actor: User | None
) -> CannedReply:
    """Create a canned reply (`reply` None) or update one of the business's. The title is unique per business
    whatever its case; the body follows inbox.canned's rules (at most 1600 characters, only {first_name} and
    {business}). Audit "canned_reply.create" / "canned_reply.update" (the title, not the text)."""
    if reply is not None and reply.business_id != business.pk:
        raise ValueError("canned reply of another business")
    title = " ".join((title or "").split())
    body = normalise_body(body)
    _validate_canned_reply(business=business, reply=reply, title=title, body=body)
    created = reply is None
    if created:
        reply = CannedReply(business=business)
    reply.title, reply.body = title, body
    try:
        with transaction.atomic():
            reply.save()
    except IntegrityError:  # the same title saved by someone else since the check: the unique index decides
        raise ValidationError({"title": [f"You already have a canned reply called “{title}”."]}) from None
    audit(
        business=business,
        action="canned_reply.create" if created else "canned_reply.update",
        actor=actor,
        target=reply,
        title=title,
    )
    return reply


@transaction.atomic
def canned_reply_delete(*, reply: CannedReply, actor: User | None) -> None:
    """Remove a canned reply. Audit "canned_reply.delete"."""
    audit(business=reply.business, action="canned_reply.delete", actor=actor, target=reply, title=reply.title)
    CannedReply.objects.filter(pk=reply.pk, business_id=reply.business_id).delete()
