"""`provision_business` and `seed_demo`: idempotent, all or nothing, clear errors."""

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from telephony.models import CarrierCredential, PhoneNumber
from tenants.models import Business, BusinessHours, Membership, User
from tests.factories import BusinessFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db

BASE = [
    "--name", "Bolt Electric",
    "--slug", "bolt",
    "--timezone", "America/Chicago",
    "--owner-email", "Boss@Bolt.test",
    "--owner-password", "sparky-owner-2468",
]  # fmt: skip
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "fedcba9876543210" * 2


def provision(*args: str) -> dict:
    out = io.StringIO()
    call_command("provision_business", *args, stdout=out)
    return json.loads(out.getvalue())


def with_option(args: list[str], option: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(option) + 1] = value
    return args


def nothing_created() -> bool:
    return not (Business.objects.exists() or User.objects.exists() or PhoneNumber.objects.exists())


# --- provision_business ----------------------------------------------------------------------------------------


def test_provision_creates_business_and_owner():
    result = provision(*BASE)
    business = Business.objects.get()
    assert result == {"business_id": business.pk, "slug": "bolt", "created": True, "owner_id": result["owner_id"]}
    assert (business.name, business.timezone) == ("Bolt Electric", "America/Chicago")
    owner = User.objects.get(pk=result["owner_id"])
    assert owner.email == "boss@bolt.test" and owner.check_password("sparky-owner-2468")
    assert Membership.objects.get(business=business, user=owner).role == "owner"
    assert Client().login(email="boss@bolt.test", password="sparky-owner-2468")


def test_provision_is_idempotent_and_updates():
    first = provision(*BASE)
    again = provision(*BASE)
    assert again == {**first, "created": False}
    changed = with_option(with_option(BASE, "--name", "Bolt Electric Co"), "--timezone", "America/Denver")
    changed = with_option(changed, "--owner-password", "new-sparky-pass-1357")
    result = provision(*changed)
    assert result["business_id"] == first["business_id"] and result["owner_id"] == first["owner_id"]
    business = Business.objects.get()
    assert (business.name, business.timezone) == ("Bolt Electric Co", "America/Denver")
    assert User.objects.get().check_password("new-sparky-pass-1357")
    assert (Business.objects.count(), User.objects.count(), Membership.objects.count()) == (1, 1, 1)


def test_provision_same_password_leaves_the_hash_alone():
    provision(*BASE)
    before = User.objects.get().password
    provision(*BASE)
    assert User.objects.get().password == before


def test_always_open_sets_24_7():
    provision(*BASE, "--always-open")
    business = Business.objects.get()
    hours = list(BusinessHours.objects.filter(business=business).values_list("weekday", "opens", "closes"))
    assert hours == [(day, dt.time(0), dt.time(0)) for day in range(7)]
    for hour in (0, 3, 12, 23):
        assert business.is_open(dt.datetime(2026, 3, 8, hour, 30, tzinfo=dt.UTC))
    ids = set(BusinessHours.objects.values_list("pk", flat=True))
    provision(*BASE, "--always-open")
    assert set(BusinessHours.objects.values_list("pk", flat=True)) == ids


def test_provision_with_number_and_twilio_account():
    result = provision(
        *BASE,
        "--number", "(628) 200-8000",
        "--forward-to", "415 236 8000",
        "--twilio-account-sid", SID,
        "--twilio-auth-token", TOKEN,
    )  # fmt: skip
    number = PhoneNumber.objects.get()
    assert result["number_id"] == number.pk and result["twilio_account_sid"] == SID
    assert (number.e164, number.forward_to, number.mode, number.provider) == (
        "+16282008000", "+14152368000", "ring", "twilio",
    )  # fmt: skip
    credential = CarrierCredential.objects.get()
    assert credential.auth_token == TOKEN
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token_encrypted FROM telephony_carriercredential")
        assert TOKEN not in cursor.fetchone()[0]
    # again, switching the number to forwarded mode: same rows, updated
    again = provision(*BASE, "--number", "+16282008000", "--mode", "forwarded", "--provider", "simulator")
    assert again["number_id"] == number.pk
    number.refresh_from_db()
    assert (number.mode, number.provider, number.forward_to) == ("forwarded", "simulator", "+14152368000")
    assert (PhoneNumber.objects.count(), CarrierCredential.objects.count()) == (1, 1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--timezone", "Mars/Olympus_Mons"], "--timezone 'Mars/Olympus_Mons' is not a time zone"),
        (["--slug", "Not A Slug!"], "--slug"),
        (["--owner-email", "not-an-email"], "--owner-email"),
        (["--owner-password", "short"], "too short"),
        (["--number", "12345"], "--number"),
        (["--number", "+16282008000"], "--forward-to: In ring mode we ring this phone first"),
        (["--number", "+16282008000", "--forward-to", "+16282008000"], "the business number itself"),
        (["--number", "+16282008000", "--forward-to", "+14152368000", "--provider", "telnyx"], "--provider"),
        (["--forward-to", "+14152368000"], "need --number"),
        (["--twilio-account-sid", "AC123", "--twilio-auth-token", TOKEN], "--twilio-account-sid"),
        (["--twilio-account-sid", SID], "--twilio-auth-token: Enter the auth token"),
        (["--twilio-auth-token", TOKEN], "needs --twilio-account-sid"),
    ],
)
def test_provision_errors_leave_nothing_behind(extra, message):
    args = list(BASE)
    for option in ("--timezone", "--slug", "--owner-email", "--owner-password"):
        if option in extra:
            i = extra.index(option)
            args = with_option(args, option, extra[i + 1])
            extra = extra[:i] + extra[i + 2 :]
    with pytest.raises(CommandError, match=message):
        provision(*args, *extra)
    assert nothing_created()
    assert not CarrierCredential.objects.exists()


def test_provision_refuses_a_number_of_another_business():
    other = BusinessFactory(name="Acme Plumbing", slug="acme")
    PhoneNumberFactory(business=other, e164="+16282008000")
    with pytest.raises(CommandError, match="already connected to another business") as exc:
        provision(*BASE, "--number", "+16282008000", "--forward-to", "+14152368000")
    assert "Acme" not in str(exc.value)
    assert not Business.objects.filter(slug="bolt").exists()
    assert PhoneNumber.objects.get().business == other


def test_provision_refuses_a_twilio_account_of_another_business():
    other = BusinessFactory(slug="acme")
    credential = CarrierCredential(business=other, account_sid=SID)
    credential.auth_token = TOKEN
    credential.save()
    with pytest.raises(CommandError, match="already connected to another SecondDesk account"):
        provision(*BASE, "--twilio-account-sid", SID, "--twilio-auth-token", "a" * 32)
    assert not Business.objects.filter(slug="bolt").exists()


def test_provision_adds_a_new_owner_to_an_existing_business():
    provision(*BASE)
    provision(*with_option(BASE, "--owner-email", "partner@bolt.test"))
    business = Business.objects.get()
    owners = set(business.memberships.filter(role="owner").values_list("user__email", flat=True))
    assert owners == {"boss@bolt.test", "partner@bolt.test"}


# --- seed_demo -------------------------------------------------------------------------------------------------


def snapshot() -> dict:
    """Every row seed_demo touches, with every column, so a second run can be shown to change nothing."""
    return {
        "business": list(Business.objects.values()),
        "users": list(User.objects.order_by("pk").values()),
        "memberships": list(Membership.objects.order_by("pk").values()),
        "hours": list(BusinessHours.objects.order_by("pk").values()),
        "numbers": list(PhoneNumber.objects.order_by("pk").values()),
    }


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_acme():
    output = seed()
    business = Business.objects.get(slug="acme")
    assert (business.name, business.display_name, business.timezone) == (
        "Acme Plumbing", "Acme Plumbing", "America/New_York",
    )  # fmt: skip
    assert business.help_text and business.brand_color != "#1d4ed8"
    roles = dict(business.memberships.values_list("user__email", "role"))
    assert roles == {"owner@acme.test": "owner", "operator@acme.test": "operator"}
    hours = list(business.hours.values_list("weekday", "opens", "closes"))
    assert hours == [(d, dt.time(8), dt.time(17)) for d in range(5)] + [(5, dt.time(9), dt.time(13))]
    number = PhoneNumber.objects.get(business=business)
    assert (number.e164, number.provider, number.mode) == ("+14155238886", "simulator", "ring")
    assert number.forward_to and number.forward_to != number.e164
    for email, password in (("owner@acme.test", "acme-owner-demo"), ("operator@acme.test", "acme-inbox-demo")):
        assert f"{email}  password: {password}" in output
        assert Client().login(email=email, password=password)


def test_readme_demo_logins_match_seed_demo():
    from django.conf import settings

    from tenants.management.commands import seed_demo

    readme = (settings.BASE_DIR / "README.md").read_text()
    for email, password in (
        (seed_demo.OWNER_EMAIL, seed_demo.OWNER_PASSWORD),
        (seed_demo.OPERATOR_EMAIL, seed_demo.OPERATOR_PASSWORD),
    ):
        assert f"| `{email}` | `{password}` |" in readme


def test_make_run_seeds_the_demo_before_starting_so_the_logins_are_printed():
    from django.conf import settings

    makefile = (settings.BASE_DIR / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:") :].split("\n\n")[0]
    assert run.index("manage.py seed_demo") < run.index("honcho start")


def test_seed_demo_is_idempotent():
    first_output = seed()
    before = snapshot()
    second_output = seed()
    assert snapshot() == before
    assert second_output == first_output


def test_seed_demo_restores_a_changed_demo_password():
    seed()
    owner = User.objects.get(email="owner@acme.test")
    owner.set_password("something-else-entirely")
    owner.save()
    seed()
    assert Client().login(email="owner@acme.test", password="acme-owner-demo")
