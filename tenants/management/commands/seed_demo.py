"""The demo business "Acme Plumbing" with an owner, an operator and a simulator number. Idempotent: a second run
changes nothing and prints the same logins. The passwords are fixed and public: this is a demo, never production.
"""

import datetime as dt

from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.management.commands.provision_business import ensure_membership, ensure_user, provision, set_week
from tenants.models import Business, Membership

SLUG = "acme"
OWNER_EMAIL = "owner@acme.test"
OWNER_PASSWORD = "acme-owner-demo"  # noqa: S105 (documented demo login)
OPERATOR_EMAIL = "operator@acme.test"
OPERATOR_PASSWORD = "acme-inbox-demo"  # noqa: S105 (documented demo login)
NUMBER = "+14155238886"  # a simulator number: no carrier, no real calls or texts
FORWARD_TO = "+14155552671"  # the owner's (pretend) mobile, rung first
PROFILE = {
    "display_name": "Acme Plumbing",
    "brand_color": "#0e7490",
    "help_text": "Acme Plumbing: call (415) 523-8886, Mon-Fri 8am-5pm, Sat 9am-1pm. For a burst pipe, text URGENT.",
}
HOURS = {
    **{weekday: [(dt.time(8, 0), dt.time(17, 0))] for weekday in range(5)},
    5: [(dt.time(9, 0), dt.time(13, 0))],
}


class Command(BaseCommand):
    help = "Create the demo business 'Acme Plumbing' (slug acme) with demo logins. Safe to run again."

    @transaction.atomic
    def handle(self, *args, **options):
        result = provision(
            name="Acme Plumbing",
            slug=SLUG,
            timezone="America/New_York",
            owner_email=OWNER_EMAIL,
            owner_password=OWNER_PASSWORD,
            number=NUMBER,
            forward_to=FORWARD_TO,
            mode="ring",
            provider="simulator",
            label="Main line",
        )
        business: Business = result.business
        changed = [field for field, value in PROFILE.items() if getattr(business, field) != value]
        for field in changed:
            setattr(business, field, PROFILE[field])
        if changed:
            business.save(update_fields=changed)
        set_week(business, HOURS)
        if not result.owner.full_name:
            result.owner.full_name = "Alex Acme"
            result.owner.save(update_fields=["full_name"])
        operator = ensure_user(email=OPERATOR_EMAIL, password=OPERATOR_PASSWORD, full_name="Sam Operator")
        ensure_membership(business=business, user=operator, role=Membership.Role.OPERATOR)

        self.stdout.write(f"Demo business: {business.name} at /app/{business.slug}/")
        self.stdout.write(f"Simulator number: {NUMBER} (place test calls at /app/{business.slug}/simulator/)")
        self.stdout.write("Demo logins:")
        self.stdout.write(f"  owner     {OWNER_EMAIL}  password: {OWNER_PASSWORD}")
        self.stdout.write(f"  operator  {OPERATOR_EMAIL}  password: {OPERATOR_PASSWORD}")
