import datetime as dt

import pytest

from telephony.models import CarrierCredential, PhoneNumber
from tenants.models import BusinessHours
from tests import twilio

NUMBER_A = "+14155238886"
NUMBER_B = "+16505550123"
OWNER_MOBILE = "+14155551234"
CALLER = "+14158675309"


def always_open(business) -> None:
    BusinessHours.objects.filter(business=business).delete()
    BusinessHours.objects.bulk_create(
        BusinessHours(business=business, weekday=d, opens=dt.time(0), closes=dt.time(0)) for d in range(7)
    )


@pytest.fixture
def number_a(tenant_a) -> PhoneNumber:
    """Tenant A's Twilio number in ring mode, with its own account, open around the clock."""
    credential = CarrierCredential(business=tenant_a.business, provider="twilio", account_sid=twilio.ACCOUNT_SID)
    credential.auth_token = twilio.AUTH_TOKEN
    credential.save()
    always_open(tenant_a.business)
    return PhoneNumber.objects.create(
        business=tenant_a.business, e164=NUMBER_A, provider="twilio", mode="ring", forward_to=OWNER_MOBILE
    )


OTHER_ACCOUNT_SID = "AC" + "b2" * 16
OTHER_AUTH_TOKEN = "e1" * 16


@pytest.fixture
def number_b(tenant_b) -> PhoneNumber:
    """Tenant B's number on a different Twilio account."""
    credential = CarrierCredential(business=tenant_b.business, provider="twilio", account_sid=OTHER_ACCOUNT_SID)
    credential.auth_token = OTHER_AUTH_TOKEN
    credential.save()
    always_open(tenant_b.business)
    return PhoneNumber.objects.create(
        business=tenant_b.business, e164=NUMBER_B, provider="twilio", mode="ring", forward_to="+16505551212"
    )
