"""Who is on call, and the owner's on-call settings.

The schedule is a weekly rotation plus overrides, read in the business's time zone:

- The rotation is the business's OnCallMember rows in `position` order, counting only people who are still active
  members (someone who left drops out and the rest close ranks, rather than leaving a week with nobody). The first
  person is on call from the first handover (`handover_weekday` at `handover_hour`, local) on or after
  `rotation_start`, the next one from the handover a week later, and so on round the list; the rotation repeats
  backwards too, so a start date in the future still says who covers until then.
- Handovers are counted on the local wall clock, so they stay at 08:00 local across daylight-saving changes (a
  week that contains a clock change is 167 or 169 real hours long). A handover hour that does not exist on the
  day the clocks go forward happens when the clock reaches it, an hour later in real time.
- An override (someone covering a stretch: holidays, sick days) wins over the rotation while it lasts. When two
  overlap, the one that started last wins (the more specific swap). An override for someone who has left is
  ignored.

The escalation chain (inbox.escalation) is: whoever is on call now, then the backup, then the owners, each once.
Members without a phone number are left out of the chain: a page is a text, and waiting N minutes on someone who
cannot receive it only delays the next person. They still get the ordinary urgent alert (by email, under My
settings); the settings page warns about them.

Settings writes are keyword-only, run in one transaction with the business's ResponseSettings row locked (one lock
for the whole on-call configuration, so two owners editing the rotation at once cannot interleave), check what they
are given (a stranger's id is refused even when the form was skipped) and write an audit entry.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.services import audit
from inbox.models import OnCallMember, OnCallOverride, ResponseSettings
from tenants.models import Business, Membership, User

# Used when the owner never picked a rotation start: any fixed Monday keeps the rotation stable.
DEFAULT_ROTATION_START = dt.date(2024, 1, 1)
WEEK = dt.timedelta(days=7)
MAX_OVERRIDE = dt.timedelta(days=92)
MAX_OVERRIDE_AHEAD = dt.timedelta(days=366)
MAX_ROTATION = 52


@dataclass(frozen=True)
class OnCall:
    """Who is on call at a moment, and why."""

    user: User | None
    source: str  # "override", "rotation" or "" (nobody)
    until: dt.datetime | None  # when this stretch ends (the override's end, or the next handover)
    override: OnCallOverride | None = None


@dataclass(frozen=True)
class ChainLink:
    """One person considered for the escalation chain; `skipped` says why they will not be paged ("" if they
    will)."""

    user: User
    role: str  # "on call", "backup" or "owner"
    skipped: str = ""


def response_settings_locked(business: Business) -> ResponseSettings:
    ResponseSettings.objects.get_or_create(business=business)
    return ResponseSettings.objects.select_for_update().get(business=business)


def active_members(business_id: int) -> dict[int, Membership]:
    """user id -> membership (with the user) of the business's current members with an active account."""
    rows = Membership.objects.filter(business_id=business_id, user__is_active=True).select_related("user")
    return {m.user_id: m for m in rows}


def rotation(business_id: int, *, members: dict[int, Membership] | None = None) -> list[User]:
    """The rotation in order, current members only."""
    members = active_members(business_id) if members is None else members
    user_ids = OnCallMember.objects.filter(business_id=business_id).order_by("position").values_list("user_id")
    return [members[user_id].user for (user_id,) in user_ids if user_id in members]


def _anchor(settings: ResponseSettings) -> dt.datetime:
    """The first handover on or after the rotation start, as a naive local wall-clock time."""
    start = settings.rotation_start or DEFAULT_ROTATION_START
    day = start + dt.timedelta(days=(settings.handover_weekday - start.weekday()) % 7)
    return dt.datetime.combine(day, dt.time(settings.handover_hour))


def _aware(wall: dt.datetime, tz) -> dt.datetime:
    """A naive local wall time as an aware time. A wall time that does not exist (clocks went forward) becomes the
    moment the clock reads it after the gap; an ambiguous one (clocks went back) is the first of the two."""
    return wall.replace(tzinfo=tz).astimezone(dt.UTC).astimezone(tz)


def rotation_week(settings: ResponseSettings, *, tz, at: dt.datetime) -> int:
    """How many handovers have passed since the anchor (negative before it), on the local wall clock."""
    wall = at.astimezone(tz).replace(tzinfo=None)
    return (wall - _anchor(settings)) // WEEK


def handover_after(settings: ResponseSettings, *, tz, at: dt.datetime) -> dt.datetime:
    """The first handover strictly after `at` (aware, in the business's time zone)."""
    week = rotation_week(settings, tz=tz, at=at)
    wall = _anchor(settings) + (week + 1) * WEEK
    return _aware(wall, tz)


def on_call_at(
    business: Business,
    *,
    at: dt.datetime | None = None,
    settings: ResponseSettings | None = None,
    members: dict[int, Membership] | None = None,
) -> OnCall:
    """Who is on call at `at` (now by default): a current override, else the rotation's person for that week."""
    at = at or timezone.now()
    settings = settings or ResponseSettings.objects.filter(business=business).first() or ResponseSettings()
    members = active_members(business.pk) if members is None else members
    overrides = OnCallOverride.objects.filter(business=business, starts_at__lte=at, ends_at__gt=at).order_by(
        "-starts_at", "-pk"
    )
    for override in overrides:
        if override.user_id in members:
            return OnCall(
                user=members[override.user_id].user, source="override", until=override.ends_at, override=override
            )
    people = rotation(business.pk, members=members)
    if not people:
        return OnCall(user=None, source="", until=None)
    week = rotation_week(settings, tz=business.tz, at=at)
    return OnCall(
        user=people[week % len(people)], source="rotation", until=handover_after(settings, tz=business.tz, at=at)
    )


def upcoming_weeks(business: Business, *, settings: ResponseSettings, at: dt.datetime, weeks: int = 4) -> list[dict]:
    """The rotation's next few weeks (ignoring overrides), for the settings page: [{"starts": ..., "user": ...}]."""
    people = rotation(business.pk)
    if not people:
        return []
    rows = []
    week = rotation_week(settings, tz=business.tz, at=at)
    for offset in range(1, weeks + 1):
        starts = _aware(_anchor(settings) + (week + offset) * WEEK, business.tz)
        rows.append({"starts": starts, "user": people[(week + offset) % len(people)]})
    return rows


def chain_preview(
    business: Business, *, at: dt.datetime | None = None, settings: ResponseSettings | None = None
) -> list[ChainLink]:
    """Everyone the chain would consider right now, in order, with the reason anyone is skipped: on call, backup,
    owners; each person once; people who left (or whose account is off) never appear; members without a phone are
    listed as skipped."""
    settings = settings or ResponseSettings.objects.filter(business=business).first() or ResponseSettings()
    members = active_members(business.pk)
    on_call = on_call_at(business, at=at, settings=settings, members=members).user
    candidates: list[tuple[int | None, str]] = [
        (on_call.pk if on_call else None, "on call"),
        (settings.backup_id, "backup"),
    ]
    owners = sorted(m.user_id for m in members.values() if m.role == Membership.Role.OWNER)
    candidates += [(user_id, "owner") for user_id in owners]
    links, seen = [], set()
    for user_id, role in candidates:
        if user_id is None or user_id in seen or user_id not in members:
            continue
        seen.add(user_id)
        user = members[user_id].user
        links.append(ChainLink(user=user, role=role, skipped="" if user.phone else "no phone number"))
    return links


# --- settings writes ----------------------------------------------------------------------------------------------


def _check_member(business: Business, user_id: int | None, field: str) -> None:
    if user_id is not None and not Membership.objects.filter(business=business, user_id=user_id).exists():
        raise ValidationError({field: "Choose someone on your team."})


@transaction.atomic
def paging_update(
    *,
    business: Business,
    actor: User | None,
    paging_enabled: bool,
    ack_minutes: int,
    backup: User | None,
    rotation_start: dt.date | None,
    handover_weekday: int,
    handover_hour: int,
) -> ResponseSettings:
    """Save paging on/off, minutes before the next person, the backup and the rotation's handover. Audit
    "on_call.update" with what changed."""
    errors = {}
    if not 1 <= ack_minutes <= 60:
        errors["ack_minutes"] = "Choose between 1 and 60 minutes."
    if not 0 <= handover_weekday <= 6:
        errors["handover_weekday"] = "Choose a day of the week."
    if not 0 <= handover_hour <= 23:
        errors["handover_hour"] = "Choose an hour between 0 and 23."
    if errors:
        raise ValidationError(errors)
    _check_member(business, backup.pk if backup else None, "backup")
    settings = response_settings_locked(business)
    wanted = {
        "paging_enabled": paging_enabled,
        "ack_minutes": ack_minutes,
        "backup_id": backup.pk if backup else None,
        "rotation_start": rotation_start,
        "handover_weekday": handover_weekday,
        "handover_hour": handover_hour,
    }
    changed = {
        name: [_plain(getattr(settings, name)), _plain(value)]
        for name, value in wanted.items()
        if getattr(settings, name) != value
    }
    if changed:
        for name, value in wanted.items():
            setattr(settings, name, value)
        settings.save(update_fields=[*(name.removesuffix("_id") for name in wanted), "updated_at"])
        audit(business=business, action="on_call.update", actor=actor, target=settings, changed=changed)
    return settings


def _plain(value):
    return value.isoformat() if isinstance(value, dt.date) else value


def _rotation_ids(business: Business) -> list[int]:
    return list(OnCallMember.objects.filter(business=business).order_by("position").values_list("user_id", flat=True))


def _rotation_write(*, business: Business, actor: User | None, before: list[int], after: list[int]) -> None:
    """Store the rotation as `after` (positions 0..n-1). Rewritten whole: a handful of rows, and swapping two
    positions in place would trip the unique (business, position) constraint halfway."""
    if before == after:
        return
    OnCallMember.objects.filter(business=business).delete()
    OnCallMember.objects.bulk_create(
        OnCallMember(business=business, user_id=user_id, position=position) for position, user_id in enumerate(after)
    )
    audit(business=business, action="on_call.rotation_update", actor=actor, before=before, after=after)


@transaction.atomic
def rotation_add(*, business: Business, user: User, actor: User | None) -> None:
    """Put a member at the end of the rotation."""
    _check_member(business, user.pk, "user")
    response_settings_locked(business)
    before = _rotation_ids(business)
    if user.pk in before:
        raise ValidationError({"user": f"{user} is already in the rotation."})
    if len(before) >= MAX_ROTATION:
        raise ValidationError({"user": f"A rotation can have at most {MAX_ROTATION} people."})
    _rotation_write(business=business, actor=actor, before=before, after=[*before, user.pk])


@transaction.atomic
def rotation_remove(*, business: Business, user_id: int, actor: User | None) -> bool:
    """Take someone out of the rotation (the others close ranks). False when they were not in it."""
    response_settings_locked(business)
    before = _rotation_ids(business)
    if user_id not in before:
        return False
    _rotation_write(business=business, actor=actor, before=before, after=[u for u in before if u != user_id])
    return True


@transaction.atomic
def rotation_move(*, business: Business, user_id: int, direction: str, actor: User | None) -> bool:
    """Swap someone with the person before ("up") or after ("down") them. False when there is nothing to do."""
    if direction not in ("up", "down"):
        raise ValidationError("Move someone up or down.")
    response_settings_locked(business)
    before = _rotation_ids(business)
    if user_id not in before:
        return False
    index = before.index(user_id)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(before):
        return False
    after = list(before)
    after[index], after[other] = after[other], after[index]
    _rotation_write(business=business, actor=actor, before=before, after=after)
    return True


@transaction.atomic
def override_add(
    *, business: Business, user: User, starts_at: dt.datetime, ends_at: dt.datetime, note: str, actor: User | None
) -> OnCallOverride:
    """Someone covers on-call from `starts_at` to `ends_at` (aware). The end must be in the future; a start in the
    past means "from now" (the form took a minute to fill in). At most three months long, starting within a
    year."""
    now = timezone.now()
    _check_member(business, user.pk, "user")
    starts_at = max(starts_at, now)
    errors = {}
    if ends_at <= now:
        errors["ends_at"] = "Pick an end in the future."
    elif ends_at <= starts_at:
        errors["ends_at"] = "The end must be after the start."
    elif ends_at - starts_at > MAX_OVERRIDE:
        errors["ends_at"] = "An override can last at most three months; add another for longer."
    if starts_at - now > MAX_OVERRIDE_AHEAD:
        errors["starts_at"] = "Pick a start within the next year."
    if len(note) > OnCallOverride._meta.get_field("note").max_length:
        errors["note"] = "Keep the note short."
    if errors:
        raise ValidationError(errors)
    response_settings_locked(business)
    override = OnCallOverride.objects.create(
        business=business, user=user, starts_at=starts_at, ends_at=ends_at, note=note
    )
    audit(
        business=business,
        action="on_call.override_add",
        actor=actor,
        target=override,
        user=user.pk,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
    )
    return override


@transaction.atomic
def override_delete(*, override: OnCallOverride, actor: User | None) -> None:
    audit(
        business=override.business,
        action="on_call.override_delete",
        actor=actor,
        target=override,
        user=override.user_id,
        starts_at=override.starts_at.isoformat(),
        ends_at=override.ends_at.isoformat(),
    )
    override.delete()
