"""factory-boy factories for every model the suite builds."""

import datetime as dt

import factory
from factory.django import DjangoModelFactory

from tenants.models import Business, BusinessHours, Holiday, Membership, User

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
