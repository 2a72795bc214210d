"""Create or update a business, its owner and (optionally) its number and Twilio account, for scripts and
self-hosters. Idempotent by slug: running it again updates the business and changes nothing that already matches.
"""

import dataclasses
import datetime as dt
import json

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email, validate_slug
from django.db import transaction

from secdesk.phone import InvalidPhoneNumber, to_e164
from telephony.models import CarrierCredential, PhoneNumber
from telephony.settings_services import credential_set, number_create, number_update
from tenants.models import TIMEZONE_CHOICES, Business, BusinessHours, Membership, User
from tenants.services import business_create, normalize_email
from tenants.settings_services import replace_business_hours

MIDNIGHT = dt.time(0, 0)
ALWAYS_OPEN = {weekday: [(MIDNIGHT, MIDNIGHT)] for weekday in BusinessHours.Weekday.values}
VALID_TIMEZONES = frozenset(tz for tz, _ in TIMEZONE_CHOICES)


@dataclasses.dataclass
class Provisioned:
    business: Business
    owner: User
    created: bool
    number: PhoneNumber | None = None
    credential: CarrierCredential | None = None


# Service field names -> the command's options, so an error names what to fix on the command line.
OPTION_NAMES = {
    "e164": "--number",
    "forward_to": "--forward-to",
    "mode": "--mode",
    "provider": "--provider",
    "label": "--label",
    "account_sid": "--twilio-account-sid",
    "auth_token": "--twilio-auth-token",
    "slug": "--slug",
    "timezone": "--timezone",
}


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{OPTION_NAMES.get(field, field)}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def current_week(business: Business) -> dict[int, list[tuple[dt.time, dt.time]]]:
    week: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for interval in BusinessHours.objects.filter(business=business).order_by("weekday", "opens"):
        week.setdefault(interval.weekday, []).append((interval.opens, interval.closes))
    return week


def set_week(business: Business, week: dict[int, list[tuple[dt.time, dt.time]]]) -> bool:
    """Replace the business's hours with `week` unless they already match. True if anything changed."""
    wanted = {day: sorted(intervals) for day, intervals in week.items() if intervals}
    if current_week(business) == wanted:
        return False
    try:
        replace_business_hours(business=business, week=wanted)
    except ValidationError as exc:
        raise CommandError(f"Opening hours: {_messages(exc)}") from None
    return True


def ensure_user(*, email: str, password: str, full_name: str = "") -> User:
    """The user with `email`, created if new; their password set to `password` unless it already is."""
    user = User.objects.filter(email__iexact=email).first()
    if user is not None and user.check_password(password):
        return user
    try:
        validate_password(password, user or User(email=email, full_name=full_name))
    except ValidationError as exc:
        raise CommandError(f"Password for {email}: {' '.join(exc.messages)}") from None
    if user is None:
        return User.objects.create_user(email=email, password=password, full_name=full_name)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def ensure_membership(*, business: Business, user: User, role: str) -> Membership:
    membership, created = Membership.objects.get_or_create(business=business, user=user, defaults={"role": role})
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def _provision_number(
    *, business: Business, e164: str, forward_to: str | None, mode: str | None, provider: str | None, label: str | None
) -> PhoneNumber:
    existing = PhoneNumber.objects.filter(e164=e164).first()
    if existing is not None and existing.business_id != business.pk:
        raise CommandError(f"--number: {e164} is already connected to another business.")
    given = {"forward_to": forward_to, "mode": mode, "provider": provider, "label": label}
    given = {name: value for name, value in given.items() if value is not None}
    try:
        if existing is None:
            return number_create(business=business, e164=e164, **given)
        if "forward_to" in given:
            given["forward_to"] = to_e164(given["forward_to"]) if given["forward_to"] else ""
        changed = {name: value for name, value in given.items() if getattr(existing, name) != value}
        return number_update(number=existing, **changed) if changed else existing
    except InvalidPhoneNumber as exc:
        raise CommandError(f"--forward-to: {exc}") from None
    except ValidationError as exc:
        raise CommandError(_messages(exc)) from None


@transaction.atomic
def provision(
    *,
    name: str,
    slug: str,
    timezone: str,
    owner_email: str,
    owner_password: str,
    always_open: bool = False,
    number: str | None = None,
    forward_to: str | None = None,
    mode: str | None = None,
    provider: str | None = None,
    label: str | None = None,
    twilio_account_sid: str | None = None,
    twilio_auth_token: str | None = None,
) -> Provisioned:
    """Create or update the business `slug` with `owner_email` as an owner, all or nothing (raises CommandError
    with a clear message and leaves no trace). Idempotent: values that already match are not written again."""
    slug = (slug or "").strip().lower()
    name = (name or "").strip()
    if not name:
        raise CommandError("--name must not be empty.")
    try:
        validate_slug(slug)
    except ValidationError:
        raise CommandError(f"--slug {slug!r}: use lowercase letters, digits and hyphens.") from None
    if timezone not in VALID_TIMEZONES:
        raise CommandError(f"--timezone {timezone!r} is not a time zone; use an IANA name like America/New_York.")
    owner_email = normalize_email(owner_email or "")
    try:
        validate_email(owner_email)
    except ValidationError:
        raise CommandError(f"--owner-email {owner_email!r} is not an email address.") from None
    e164 = None
    if number:
        try:
            e164 = to_e164(number)
        except InvalidPhoneNumber as exc:
            raise CommandError(f"--number: {exc}") from None
    elif any(v is not None for v in (forward_to, mode, provider, label)):
        raise CommandError("--forward-to, --mode, --provider and --label need --number.")
    if twilio_auth_token and not twilio_account_sid:
        raise CommandError("--twilio-auth-token needs --twilio-account-sid.")

    owner = ensure_user(email=owner_email, password=owner_password)
    business = Business.objects.select_for_update().filter(slug=slug).first()
    created = business is None
    if created:
        try:
            business = business_create(name=name, slug=slug, timezone=timezone, owner=owner).business
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from None
    else:
        changed = [f for f, value in (("name", name), ("timezone", timezone)) if getattr(business, f) != value]
        for field in changed:
            setattr(business, field, name if field == "name" else timezone)
        if changed:
            business.save(update_fields=changed)
        ensure_membership(business=business, user=owner, role=Membership.Role.OWNER)
    if always_open:
        set_week(business, ALWAYS_OPEN)

    result = Provisioned(business=business, owner=owner, created=created)
    if twilio_account_sid:
        existing = CarrierCredential.objects.filter(business=business, provider="twilio").first()
        unchanged = (
            existing is not None
            and existing.account_sid == twilio_account_sid
            and (not twilio_auth_token or existing.auth_token == twilio_auth_token)
        )
        if unchanged:
            result.credential = existing
        else:
            try:
                result.credential = credential_set(
                    business=business, account_sid=twilio_account_sid, auth_token=twilio_auth_token
                )
            except ValidationError as exc:
                raise CommandError(_messages(exc)) from None
    if e164:
        result.number = _provision_number(
            business=business, e164=e164, forward_to=forward_to, mode=mode, provider=provider, label=label
        )
    return result


class Command(BaseCommand):
    help = (
        "Create or update a business (idempotent by --slug) with its owner, and optionally its number and Twilio "
        "account. Prints JSON with the business id (and number id)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True, help="Dashboard address /app/<slug>/; the idempotency key.")
        parser.add_argument("--timezone", required=True, help="IANA time zone, e.g. America/New_York.")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", required=True)
        parser.add_argument("--always-open", action="store_true", help="Set opening hours to 24/7.")
        parser.add_argument("--number", help="The business number (E.164) to connect or update.")
        parser.add_argument("--label", help="A name for the number, e.g. 'Main line'.")
        parser.add_argument("--forward-to", help="The phone rung first in ring mode.")
        parser.add_argument("--mode", choices=PhoneNumber.Mode.values, help="ring (default) or forwarded.")
        parser.add_argument("--provider", help="Carrier: twilio (default) or simulator.")
        parser.add_argument("--twilio-account-sid")
        parser.add_argument("--twilio-auth-token")

    def handle(self, *args, **options):
        result = provision(
            name=options["name"],
            slug=options["slug"],
            timezone=options["timezone"],
            owner_email=options["owner_email"],
            owner_password=options["owner_password"],
            always_open=options["always_open"],
            number=options["number"],
            forward_to=options["forward_to"],
            mode=options["mode"],
            provider=options["provider"],
            label=options["label"],
            twilio_account_sid=options["twilio_account_sid"],
            twilio_auth_token=options["twilio_auth_token"],
        )
        output = {
            "business_id": result.business.pk,
            "slug": result.business.slug,
            "created": result.created,
            "owner_id": result.owner.pk,
        }
        if result.number is not None:
            output["number_id"] = result.number.pk
        if result.credential is not None:
            output["twilio_account_sid"] = result.credential.account_sid
        self.stdout.write(json.dumps(output))
