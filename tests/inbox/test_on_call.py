"""Who is on call (the weekly rotation on the business's wall clock, across daylight-saving changes, and overrides
that win over it) and the owner's on-call page: settings, rotation, overrides and the "Test the escalation"
button, for owners and admins of this business only."""

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse

from compliance.models import AuditEvent
from inbox.models import Conversation, Escalation, OnCallMember, OnCallOverride, ResponseSettings
from inbox.on_call import chain_preview, handover_after, on_call_at, upcoming_weeks
from messaging.models import Message
from telephony.models import PhoneNumber
from tenants.models import Membership, User
from tests.factories import MembershipFactory, UserFactory
from tests.numbers import NUMBER_A

pytestmark = pytest.mark.django_db

NY = zoneinfo.ZoneInfo("America/New_York")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY)


@pytest.fixture
def crew(tenant_a):
    """Three technicians in the rotation (A, B, C) handing over on Mondays at 8 am from Monday 2 March 2026."""
    business = tenant_a.business
    people = []
    for name in ("Ana", "Ben", "Cal"):
        user = UserFactory(full_name=name, email=f"{name.lower()}@acme.test", phone=f"+1415555020{len(people)}")
        MembershipFactory(business=business, user=user, role=Membership.Role.OPERATOR)
        OnCallMember.objects.create(business=business, user=user, position=len(people))
        people.append(user)
    settings = ResponseSettings.objects.create(
        business=business, rotation_start=dt.date(2026, 3, 2), handover_weekday=0, handover_hour=8
    )
    return business, settings, people


def who(business, settings, when: dt.datetime):
    return on_call_at(business, at=when, settings=settings).user


# --- the rotation -------------------------------------------------------------------------------------------------


def test_the_rotation_hands_over_weekly_at_the_local_hour(crew):
    business, settings, (ana, ben, cal) = crew
    assert who(business, settings, local(2026, 3, 2, 7, 59)) == cal  # before the first handover: the last one
    assert who(business, settings, local(2026, 3, 2, 8, 0)) == ana
    assert who(business, settings, local(2026, 3, 15, 23, 0)) == ben
    assert who(business, settings, local(2026, 3, 16, 8, 0)) == cal
    assert who(business, settings, local(2026, 3, 23, 8, 0)) == ana  # round again


def test_the_handover_stays_at_8_am_local_across_the_spring_dst_change(crew):
    business, settings, (ana, ben, _) = crew
    # Clocks go forward on Sunday 8 March 2026: Ana's week is 167 real hours long.
    assert who(business, settings, dt.datetime(2026, 3, 9, 11, 59, tzinfo=dt.UTC)) == ana  # 7:59 am EDT
    assert who(business, settings, dt.datetime(2026, 3, 9, 12, 0, tzinfo=dt.UTC)) == ben  # 8:00 am EDT
    handover = handover_after(settings, tz=NY, at=local(2026, 3, 5, 12, 0))
    assert handover == local(2026, 3, 9, 8, 0) and handover.utcoffset() == dt.timedelta(hours=-4)
    assert on_call_at(business, at=local(2026, 3, 5, 12, 0), settings=settings).until == handover


def test_the_handover_stays_at_8_am_local_across_the_autumn_dst_change(crew):
    business, settings, people = crew
    # Clocks go back on Sunday 1 November 2026; the Monday 2 November handover is at 8 am EST (13:00 UTC).
    before = who(business, settings, dt.datetime(2026, 11, 2, 12, 59, tzinfo=dt.UTC))
    after = who(business, settings, dt.datetime(2026, 11, 2, 13, 0, tzinfo=dt.UTC))
    assert people.index(after) == (people.index(before) + 1) % 3


def test_a_handover_hour_the_clocks_skip_happens_when_the_clock_gets_there(crew):
    _, settings, _ = crew
    settings.handover_weekday, settings.handover_hour = 6, 2  # Sunday 2 am: does not exist on 8 March 2026
    handover = handover_after(settings, tz=NY, at=local(2026, 3, 7, 12, 0))
    assert handover == dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC)  # 3 am EDT, the first moment after the gap


def test_someone_who_left_drops_out_and_the_others_close_ranks(crew):
    business, settings, (ana, ben, cal) = crew
    Membership.objects.filter(business=business, user=ben).delete()
    assert who(business, settings, local(2026, 3, 2, 9, 0)) == ana
    assert who(business, settings, local(2026, 3, 9, 9, 0)) == cal
    assert who(business, settings, local(2026, 3, 16, 9, 0)) == ana


def test_overrides_win_while_they_last(crew, tenant_a):
    business, settings, (ana, ben, cal) = crew
    OnCallOverride.objects.create(
        business=business, user=cal, starts_at=local(2026, 3, 3, 18, 0), ends_at=local(2026, 3, 4, 8, 0)
    )
    later = OnCallOverride.objects.create(
        business=business, user=ben, starts_at=local(2026, 3, 3, 22, 0), ends_at=local(2026, 3, 3, 23, 0)
    )
    assert who(business, settings, local(2026, 3, 3, 17, 59)) == ana
    assert who(business, settings, local(2026, 3, 3, 18, 0)) == cal
    current = on_call_at(business, at=local(2026, 3, 3, 22, 30), settings=settings)
    assert current.user == ben and current.source == "override" and current.override == later  # started last
    assert current.until == local(2026, 3, 3, 23, 0)
    assert who(business, settings, local(2026, 3, 4, 8, 0)) == ana  # the end is exclusive
    Membership.objects.filter(business=business, user=cal).delete()
    assert who(business, settings, local(2026, 3, 3, 19, 0)) == ana  # an override for someone who left is ignored


def test_the_chain_is_on_call_then_backup_then_owners_once_each(crew, tenant_a):
    business, settings, (ana, ben, _) = crew
    settings.backup = ben
    settings.save()
    tenant_a.owner.phone = "+14155550300"
    tenant_a.owner.save()
    second_owner = UserFactory(full_name="Ana's partner", phone="")
    MembershipFactory(business=business, user=second_owner, role=Membership.Role.OWNER)
    links = chain_preview(business, at=local(2026, 3, 3, 12, 0), settings=settings)
    assert [(link.user, link.role, link.skipped) for link in links] == [
        (ana, "on call", ""),
        (ben, "backup", ""),
        (tenant_a.owner, "owner", ""),
        (second_owner, "owner", "no phone number"),
    ]
    settings.backup = tenant_a.owner  # the backup is also an owner: paged once, as the backup
    assert [link.role for link in chain_preview(business, at=local(2026, 3, 3, 12, 0), settings=settings)] == [
        "on call",
        "backup",
        "owner",
    ]


def test_upcoming_weeks(crew):
    business, settings, (ana, ben, cal) = crew
    weeks = upcoming_weeks(business, settings=settings, at=local(2026, 3, 3, 12, 0), weeks=3)
    assert [(week["starts"], week["user"]) for week in weeks] == [
        (local(2026, 3, 9, 8, 0), ben),
        (local(2026, 3, 16, 8, 0), cal),
        (local(2026, 3, 23, 8, 0), ana),
    ]


# --- the owner's page ---------------------------------------------------------------------------------------------


def url(business, name: str = "settings_on_call", *args) -> str:
    return reverse(name, args=[business.slug, *args])


def test_owners_and_admins_see_the_page_operators_are_refused_other_businesses_get_404(
    crew, tenant_a, tenant_b, client_for, time_machine
):
    time_machine.move_to(local(2026, 3, 3, 12, 0), tick=False)
    business = crew[0]
    for role in ("owner", "admin"):
        page = client_for(tenant_a.user(role)).get(url(business))
        assert page.status_code == 200
        text = page.content.decode()
        assert "On call now: <strong>Ana</strong> (rotation)" in text
        assert "Next handover: Mon Mar 9, 8:00 AM, to Ben." in text
    assert client_for(tenant_a.operator).get(url(business)).status_code == 403
    assert client_for(tenant_a.operator).post(url(business, "settings_on_call_test")).status_code == 403
    for role in ("owner", "admin", "operator"):
        assert client_for(tenant_b.user(role)).get(url(business)).status_code == 404
        assert client_for(tenant_b.user(role)).post(url(business, "settings_on_call_test")).status_code == 404
    assert not Escalation.objects.exists()


def test_saving_the_paging_settings(crew, tenant_a, tenant_b, client_for):
    business, _, (_, ben, _) = crew
    client = client_for(tenant_a.owner)
    data = {
        "paging_enabled": "on",
        "ack_minutes": "10",
        "backup": str(ben.pk),
        "rotation_start": "2026-03-09",
        "handover_weekday": "4",
        "handover_hour": "17",
    }
    assert client.post(url(business), data).status_code == 302
    settings = ResponseSettings.objects.get(business=business)
    assert (settings.paging_enabled, settings.ack_minutes, settings.backup, settings.handover_weekday) == (
        True,
        10,
        ben,
        4,
    )
    assert settings.handover_hour == 17 and settings.rotation_start == dt.date(2026, 3, 9)
    audit = AuditEvent.objects.get(action="on_call.update")
    assert audit.actor == tenant_a.owner and audit.detail["changed"]["ack_minutes"] == [5, 10]

    for field, value, error in (
        ("ack_minutes", "0", "Wait at least 1 minute."),
        ("ack_minutes", "61", "Wait at most 60 minutes."),
        ("backup", str(tenant_b.owner.pk), "Choose someone on your team."),  # a forged id
        ("handover_hour", "24", "Choose an hour."),
    ):
        response = client.post(url(business), {**data, field: value})
        assert response.status_code == 400 and error in response.content.decode(), (field, value)
    assert ResponseSettings.objects.get(business=business).ack_minutes == 10
    assert client.post(url(business), {**data, "paging_enabled": ""}).status_code == 302
    assert not ResponseSettings.objects.get(business=business).paging_enabled


def test_editing_the_rotation(crew, tenant_a, tenant_b, client_for):
    business, _, (ana, ben, cal) = crew
    client = client_for(tenant_a.admin)

    def order():
        return list(OnCallMember.objects.filter(business=business).order_by("position").values_list("user", flat=True))

    assert client.post(url(business, "settings_on_call_rotation_move", cal.pk), {"direction": "up"}).status_code == 302
    assert order() == [ana.pk, cal.pk, ben.pk]
    client.post(url(business, "settings_on_call_rotation_move", ana.pk), {"direction": "down"})
    assert order() == [cal.pk, ana.pk, ben.pk]
    client.post(url(business, "settings_on_call_rotation_move", cal.pk), {"direction": "up"})  # already first
    assert order() == [cal.pk, ana.pk, ben.pk]
    assert client.post(url(business, "settings_on_call_rotation_delete", ana.pk)).status_code == 302
    assert order() == [cal.pk, ben.pk]
    assert client.post(url(business, "settings_on_call_rotation_add"), {"user": ana.pk}).status_code == 302
    assert order() == [cal.pk, ben.pk, ana.pk]

    again = client.post(url(business, "settings_on_call_rotation_add"), {"user": ana.pk})
    assert again.status_code == 400 and "already in the rotation" in again.content.decode()
    forged = client.post(url(business, "settings_on_call_rotation_add"), {"user": tenant_b.operator.pk})
    assert forged.status_code == 400 and "Choose someone on your team." in forged.content.decode()
    assert client.post(url(business, "settings_on_call_rotation_delete", tenant_b.operator.pk)).status_code == 404
    assert client.post(url(business, "settings_on_call_rotation_move", 999999), {"direction": "up"}).status_code == 404
    assert order() == [cal.pk, ben.pk, ana.pk]
    audits = AuditEvent.objects.filter(action="on_call.rotation_update").order_by("pk")
    assert audits.count() == 4 and audits.last().detail == {
        "before": [cal.pk, ben.pk],
        "after": [cal.pk, ben.pk, ana.pk],
    }


def test_adding_and_deleting_overrides(crew, tenant_a, tenant_b, client_for, time_machine):
    time_machine.move_to(local(2026, 3, 3, 12, 0), tick=False)
    business, settings, (_, ben, cal) = crew
    client = client_for(tenant_a.owner)
    add = url(business, "settings_on_call_override_add")
    data = {"user": cal.pk, "starts_at": "2026-03-03T18:00", "ends_at": "2026-03-04T08:00", "note": "Ana's dentist"}
    assert client.post(add, data).status_code == 302
    override = OnCallOverride.objects.get()
    assert override.starts_at == local(2026, 3, 3, 18, 0) and override.ends_at == local(2026, 3, 4, 8, 0)
    assert AuditEvent.objects.filter(action="on_call.override_add", actor=tenant_a.owner).exists()
    assert who(business, settings, local(2026, 3, 3, 20, 0)) == cal

    for changes, error in (
        ({"ends_at": "2026-03-03T17:00"}, "The end must be after the start."),
        ({"starts_at": "2026-03-01T08:00", "ends_at": "2026-03-02T08:00"}, "Pick an end in the future."),
        ({"starts_at": "2026-03-08T02:30"}, "does not exist on that day"),  # the clocks jump from 2 to 3 am
        ({"user": tenant_b.owner.pk}, "Choose someone on your team."),
        ({"starts_at": "tomorrow"}, "Enter a date and time"),
    ):
        response = client.post(add, {**data, **changes})
        assert response.status_code == 400 and error in response.content.decode(), changes
    assert OnCallOverride.objects.count() == 1

    # a start in the past means "from now"
    client.post(add, {**data, "user": ben.pk, "starts_at": "2026-03-03T09:00", "ends_at": "2026-03-03T13:00"})
    assert OnCallOverride.objects.get(user=ben).starts_at == local(2026, 3, 3, 12, 0)

    other = OnCallOverride.objects.create(
        business=tenant_b.business, user=tenant_b.owner, starts_at=local(2026, 3, 5, 0, 0), ends_at=local(2026, 3, 6)
    )
    assert client.post(url(business, "settings_on_call_override_delete", other.pk)).status_code == 404
    assert client.post(url(business, "settings_on_call_override_delete", override.pk)).status_code == 302
    assert not OnCallOverride.objects.filter(pk=override.pk).exists()
    assert AuditEvent.objects.filter(action="on_call.override_delete").exists()


# --- the test button ------------------------------------------------------------------------------------------------


def test_the_test_button_pages_the_chain_and_is_rate_limited(crew, tenant_a, number_a, client_for, time_machine):
    time_machine.move_to(local(2026, 3, 3, 12, 0), tick=False)
    business, settings, (ana, ben, _) = crew
    settings.backup = ben
    settings.save()
    client = client_for(tenant_a.owner)
    response = client.post(url(business, "settings_on_call_test"), follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert (
        "Test started: Ana was just texted a page marked TEST. If nobody takes it within the minutes set, Ben will"
        in text
    )
    escalation = Escalation.objects.get()
    assert escalation.is_test and escalation.conversation.contact.name == "Test caller"
    [page] = Message.objects.filter(to_number=ana.phone, trigger_detail__startswith="escalation:")
    assert page.body.startswith("TEST URGENT Acme Plumbing: Test caller")
    assert AuditEvent.objects.filter(action="escalation.test", actor=tenant_a.owner).exists()

    again = client.post(url(business, "settings_on_call_test"), follow=True)  # still paging: refused, clearly
    assert "A test is already paging" in again.content.decode() and Escalation.objects.count() == 1
    Escalation.objects.update(outcome="acknowledged")
    Conversation.objects.update(status="closed")
    assert client.post(url(business, "settings_on_call_test")).status_code == 302
    assert Escalation.objects.count() == 2
    limited = client_for(tenant_a.admin).post(url(business, "settings_on_call_test"))
    assert limited.status_code == 429 and "3 times an hour" in limited.content.decode()
    assert Escalation.objects.count() == 2


def test_the_test_button_explains_why_it_cannot_run(crew, tenant_a, client_for):
    business, settings, _ = crew
    client = client_for(tenant_a.owner)
    response = client.post(url(business, "settings_on_call_test"), follow=True)
    assert "Add a phone number first" in response.content.decode()  # no business number yet
    PhoneNumber.objects.create(business=business, e164=NUMBER_A, provider="twilio")
    User.objects.filter(memberships__business=business).update(phone="")
    response = client.post(url(business, "settings_on_call_test"), follow=True)
    assert "Nobody can be paged" in response.content.decode()
    settings.paging_enabled = False
    settings.save()
    response = client.post(url(business, "settings_on_call_test"), follow=True)
    assert "Paging is off" in response.content.decode()
    assert not Escalation.objects.exists() and not Conversation.objects.exists()
