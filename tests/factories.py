"""factory-boy factories for every model the suite builds."""

import datetime as dt

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from tenants.models import Business, BusinessHours, Holiday, Invitation, Membership, User

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class BusinessFactory(DjangoModelFactory):
    class Meta:
        model = Business
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Business {n}")
    slug = factory.Sequence(lambda n: f"business-{n}")
    timezone = "America/New_York"
    display_name = factory.LazyAttribute(lambda o: o.name)
    help_text = "Call us at (555) 010-0000."


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    business = factory.SubFactory(BusinessFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.OPERATOR


class BusinessHoursFactory(DjangoModelFactory):
    class Meta:
        model = BusinessHours

    business = factory.SubFactory(BusinessFactory)
    weekday = 0
    opens = dt.time(8, 0)
    closes = dt.time(17, 0)


class HolidayFactory(DjangoModelFactory):
    class Meta:
        model = Holiday

    business = factory.SubFactory(BusinessFactory)
    date = dt.date(2026, 12, 25)
    name = "Christmas Day"


class InvitationFactory(DjangoModelFactory):
    """A pending invitation. The raw token is not stored; build one with a known token via `with_token()`."""

    class Meta:
        model = Invitation

    business = factory.SubFactory(BusinessFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.test")
    role = Membership.Role.OPERATOR
    token_hash = factory.LazyFunction(lambda: Invitation.new_token()[1])
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))

    @classmethod
    def with_token(cls, **kwargs) -> tuple[Invitation, str]:
        token, token_hash = Invitation.new_token()
        return cls(token_hash=token_hash, **kwargs), token


# --- telephony and inbox ---------------------------------------------------------------------------------------
# Models named by "app.Model" so these factories need no imports below the top of the file.


def _call_sid() -> str:
    import secrets

    return "CA" + secrets.token_hex(16)


class PhoneNumberFactory(DjangoModelFactory):
    """A business number in ring mode. Numbers come from +1 628 200 xxxx (valid for `phonenumbers`)."""

    class Meta:
        model = "telephony.PhoneNumber"
        django_get_or_create = ("e164",)

    business = factory.SubFactory(BusinessFactory)
    e164 = factory.Sequence(lambda n: f"+1628200{n % 10000:04d}")
    provider = "twilio"
    label = ""
    mode = "ring"
    forward_to = factory.Sequence(lambda n: f"+1415236{n % 10000:04d}")


class CarrierCredentialFactory(DjangoModelFactory):
    """A business's own Twilio account; `auth_token` goes through the model's encrypting setter."""

    class Meta:
        model = "telephony.CarrierCredential"

    business = factory.SubFactory(BusinessFactory)
    provider = "twilio"
    account_sid = factory.Sequence(lambda n: f"AC{n:032x}")
    auth_token = factory.Sequence(lambda n: f"{n + 0xABC:032x}")


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = "inbox.Contact"

    business = factory.SubFactory(BusinessFactory)
    phone = factory.Sequence(lambda n: f"+1415240{n % 10000:04d}")
    name = ""


class ConversationFactory(DjangoModelFactory):
    """An open conversation; its business is the contact's."""

    class Meta:
        model = "inbox.Conversation"

    contact = factory.SubFactory(ContactFactory)
    business = factory.LazyAttribute(lambda o: o.contact.business)
    last_activity_at = factory.LazyFunction(timezone.now)


class CallFactory(DjangoModelFactory):
    """A missed call that was texted back. Pass `phone_number=`; the business is the number's."""

    class Meta:
        model = "telephony.Call"

    phone_number = factory.SubFactory(PhoneNumberFactory)
    business = factory.LazyAttribute(lambda o: o.phone_number.business)
    provider = factory.LazyAttribute(lambda o: o.phone_number.provider)
    provider_call_id = factory.LazyFunction(_call_sid)
    caller = factory.Sequence(lambda n: f"+1415241{n % 10000:04d}")
    from_raw = factory.LazyAttribute(lambda o: o.caller)
    status = "missed"
    missed_reason = "no_answer"
    dial_status = "no-answer"
    decision = "texted"
    decision_reason = "Text-back queued."
    started_at = factory.LazyFunction(timezone.now)


class OutboundMessageFactory(DjangoModelFactory):
    """A queued outbound text from a business number to the test caller, due now."""

    class Meta:
        model = "messaging.Message"

    phone_number = factory.SubFactory(PhoneNumberFactory)
    business = factory.LazyAttribute(lambda o: o.phone_number.business)
    direction = "out"
    kind = "reply"
    from_number = factory.LazyAttribute(lambda o: o.phone_number.e164)
    to_number = "+14158675309"
    body = "Hello from the business"
    status = "queued"
    provider = factory.LazyAttribute(lambda o: o.phone_number.provider)
    next_attempt_at = factory.LazyFunction(timezone.now)
