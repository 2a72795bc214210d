"""Numbers and accounts the carrier tests share."""

import datetime as dt

from tenants.models import BusinessHours

NUMBER_A = "+14155238886"
NUMBER_B = "+16505550123"
OWNER_MOBILE = "+14155551234"
CALLER = "+14158675309"
OTHER_ACCOUNT_SID = "AC" + "b2" * 16
OTHER_AUTH_TOKEN = "e1" * 16


def always_open(business) -> None:
    BusinessHours.objects.filter(business=business).delete()
    BusinessHours.objects.bulk_create(
        BusinessHours(business=business, weekday=d, opens=dt.time(0), closes=dt.time(0)) for d in range(7)
    )
