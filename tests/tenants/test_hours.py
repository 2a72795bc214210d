"""Opening hours: Business.is_open/next_opening on the local wall clock (DST, holidays, midnight closes, several
intervals a day), and the hours & holidays settings page that writes them."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from tenants.forms import parse_day
from tenants.models import BusinessHours, Holiday
from tenants.settings_services import replace_business_hours
from tests.factories import BusinessFactory, BusinessHoursFactory, HolidayFactory

UTC = dt.UTC
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def hours(business, weekday, opens, closes):
    return BusinessHoursFactory(business=business, weekday=weekday, opens=dt.time(*opens), closes=dt.time(*closes))


@pytest.fixture
def new_york(db):
    return BusinessFactory(slug="ny", timezone="America/New_York")


@pytest.fixture
def london(db):
    return BusinessFactory(slug="ldn", timezone="Europe/London")


# --- is_open across daylight saving -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Sunday 1 March 2026, EST (UTC-5): 08:00 local is 13:00 UTC
        (utc(2026, 3, 1, 12, 59), False),
        (utc(2026, 3, 1, 13, 0), True),
        (utc(2026, 3, 1, 21, 59), True),
        (utc(2026, 3, 1, 22, 0), False),
        # Sunday 8 March 2026, clocks go forward at 02:00: 08:00 EDT (UTC-4) is 12:00 UTC
        (utc(2026, 3, 8, 11, 59), False),
        (utc(2026, 3, 8, 12, 0), True),
        (utc(2026, 3, 8, 20, 59), True),
        (utc(2026, 3, 8, 21, 0), False),
        # Sunday 25 October 2026, still EDT
        (utc(2026, 10, 25, 12, 0), True),
        # Sunday 1 November 2026, clocks go back at 02:00: 08:00 EST is 13:00 UTC again
        (utc(2026, 11, 1, 12, 0), False),
        (utc(2026, 11, 1, 12, 59), False),
        (utc(2026, 11, 1, 13, 0), True),
        (utc(2026, 11, 1, 21, 59), True),
        (utc(2026, 11, 1, 22, 0), False),
    ],
)
def test_is_open_follows_new_york_wall_clock_across_dst(new_york, at, expected):
    hours(new_york, SUN, (8, 0), (17, 0))
    assert new_york.is_open(at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Sunday 29 March 2026, BST starts at 01:00 UTC: 08:00 BST is 07:00 UTC, 17:00 BST is 16:00 UTC
        (utc(2026, 3, 29, 6, 59), False),
        (utc(2026, 3, 29, 7, 0), True),
        (utc(2026, 3, 29, 15, 59), True),
        (utc(2026, 3, 29, 16, 0), False),
        # Sunday 25 October 2026, BST ends at 01:00 UTC: 08:00 GMT is 08:00 UTC
        (utc(2026, 10, 25, 7, 0), False),
        (utc(2026, 10, 25, 7, 59), False),
        (utc(2026, 10, 25, 8, 0), True),
        (utc(2026, 10, 25, 16, 59), True),
        (utc(2026, 10, 25, 17, 0), False),
    ],
)
def test_is_open_follows_london_wall_clock_on_change_dates(london, at, expected):
    hours(london, SUN, (8, 0), (17, 0))
    assert london.is_open(at) is expected


def test_interval_spanning_the_skipped_hour(new_york):
    hours(new_york, SUN, (1, 0), (3, 0))
    assert new_york.is_open(utc(2026, 3, 8, 6, 30))  # 01:30 EST
    assert new_york.is_open(utc(2026, 3, 8, 6, 59))  # 01:59 EST; one minute later the clock reads 03:00 EDT
    assert not new_york.is_open(utc(2026, 3, 8, 7, 0))  # 03:00 EDT


def test_repeated_hour_is_open_both_times(new_york):
    hours(new_york, SUN, (1, 0), (2, 0))
    assert new_york.is_open(utc(2026, 11, 1, 5, 30))  # 01:30 EDT, first time round
    assert new_york.is_open(utc(2026, 11, 1, 6, 30))  # 01:30 EST, second time round
    assert not new_york.is_open(utc(2026, 11, 1, 7, 0))  # 02:00 EST


# --- holidays, midnight, several intervals ------------------------------------------------------------------------


def test_holiday_closes_the_local_day_only(new_york):
    for day in (FRI, SAT):
        hours(new_york, day, (0, 0), (0, 0))  # 24h
    HolidayFactory(business=new_york, date=dt.date(2026, 12, 25))  # a Friday
    assert not new_york.is_open(utc(2026, 12, 25, 15, 0))
    assert not new_york.is_open(utc(2026, 12, 26, 4, 59))  # 23:59 on the 25th in New York, though the 26th in UTC
    assert new_york.is_open(utc(2026, 12, 26, 5, 0))  # 00:00 on the 26th in New York


def test_holiday_in_another_business_does_not_close_this_one(new_york, london):
    hours(new_york, FRI, (8, 0), (17, 0))
    HolidayFactory(business=london, date=dt.date(2026, 12, 25))
    assert new_york.is_open(utc(2026, 12, 25, 15, 0))


def test_midnight_close_means_end_of_day(new_york):
    hours(new_york, FRI, (18, 0), (0, 0))
    # Friday 4 December 2026, EST
    assert not new_york.is_open(utc(2026, 12, 4, 22, 59))  # 17:59
    assert new_york.is_open(utc(2026, 12, 4, 23, 0))  # 18:00
    assert new_york.is_open(utc(2026, 12, 5, 4, 59))  # 23:59 Friday
    assert not new_york.is_open(utc(2026, 12, 5, 5, 0))  # 00:00 Saturday, closed


def test_whole_day_interval(new_york):
    hours(new_york, WED, (0, 0), (0, 0))
    assert new_york.is_open(utc(2026, 12, 2, 5, 0))  # 00:00 Wednesday
    assert new_york.is_open(utc(2026, 12, 3, 4, 59))  # 23:59 Wednesday
    assert not new_york.is_open(utc(2026, 12, 3, 5, 0))  # 00:00 Thursday


def test_several_intervals_on_one_day(new_york):
    hours(new_york, MON, (8, 0), (12, 0))
    hours(new_york, MON, (13, 0), (17, 0))
    # Monday 7 December 2026, EST (UTC-5)
    expected = {(12, 59): False, (13, 0): True, (16, 59): True, (17, 0): False, (17, 30): False, (18, 0): True}
    expected |= {(21, 59): True, (22, 0): False}
    for (hour, minute), is_open in expected.items():
        assert new_york.is_open(utc(2026, 12, 7, hour, minute)) is is_open, (hour, minute)


# --- next_opening ---------------------------------------------------------------------------------------------------


def weekdays_8_to_5(business):
    for day in range(FRI + 1):
        hours(business, day, (8, 0), (17, 0))


def test_next_opening_across_a_weekend_and_a_dst_change(new_york):
    weekdays_8_to_5(new_york)
    # Friday 6 March 2026 17:00 EST; clocks go forward on Sunday 8 March
    after = utc(2026, 3, 6, 22, 0)
    opening = new_york.next_opening(after)
    assert opening == utc(2026, 3, 9, 12, 0)  # Monday 08:00 EDT
    assert opening.utcoffset() == dt.timedelta(hours=-4)
    assert (opening.hour, opening.minute) == (8, 0)


def test_next_opening_across_the_autumn_change_in_london(london):
    weekdays_8_to_5(london)
    opening = london.next_opening(utc(2026, 10, 23, 17, 0))  # Friday 18:00 BST
    assert opening == utc(2026, 10, 26, 8, 0)  # Monday 08:00 GMT
    assert opening.utcoffset() == dt.timedelta(0)


def test_next_opening_inside_the_skipped_hour_moves_past_the_gap(new_york):
    hours(new_york, SUN, (2, 30), (10, 0))
    opening = new_york.next_opening(utc(2026, 3, 8, 1, 0))  # Saturday 20:00 EST
    assert opening == utc(2026, 3, 8, 7, 30)  # 02:30 does not exist that night; 03:30 EDT
    assert new_york.is_open(opening)


def test_next_opening_later_today_and_while_open(new_york):
    weekdays_8_to_5(new_york)
    monday_early = utc(2026, 12, 7, 11, 0)  # 06:00 EST
    assert new_york.next_opening(monday_early) == utc(2026, 12, 7, 13, 0)
    monday_noon = utc(2026, 12, 7, 17, 0)
    assert new_york.next_opening(monday_noon) == monday_noon


def test_next_opening_skips_holidays(new_york):
    weekdays_8_to_5(new_york)
    HolidayFactory(business=new_york, date=dt.date(2026, 12, 25))  # Friday
    HolidayFactory(business=new_york, date=dt.date(2026, 12, 28), name="Extra day")  # Monday
    assert new_york.next_opening(utc(2026, 12, 24, 23, 0)) == utc(2026, 12, 29, 13, 0)  # Tuesday 08:00 EST


def test_next_opening_without_hours_is_none(new_york):
    assert new_york.next_opening(utc(2026, 12, 7, 17, 0)) is None


# --- parsing what an owner types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("Closed", []),
        ("closed ", []),
        ("24h", [((0, 0), (0, 0))]),
        ("24/7", [((0, 0), (0, 0))]),
        ("08:00-17:00", [((8, 0), (17, 0))]),
        ("8:00 - 17:00", [((8, 0), (17, 0))]),
        ("8am-5pm", [((8, 0), (17, 0))]),
        ("8:30 AM to 12 PM", [((8, 30), (12, 0))]),
        ("0800\u20131700", [((8, 0), (17, 0))]),
        ("08:00-12:00, 13:00-17:00", [((8, 0), (12, 0)), ((13, 0), (17, 0))]),
        ("18:00-24:00", [((18, 0), (0, 0))]),
        ("6pm-midnight", [((18, 0), (0, 0))]),
        ("12am-noon", [((0, 0), (12, 0))]),
    ],
)
def test_parse_day_accepts_what_people_type(text, expected):
    assert parse_day(text, weekday=MON) == [(dt.time(*a), dt.time(*b)) for a, b in expected]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("banana", "Monday: “banana” should be an opening and a closing time"),
        ("8-5", "Did you mean 08:00-17:00?"),
        ("25:00-26:00", "Monday: “25:00” is not a time"),
        ("13pm-2pm", "with am/pm the hour is 1 to 12"),
        ("24:00-08:00", "opening at 24:00"),
    ],
)
def test_parse_day_explains_mistakes(text, message):
    with pytest.raises(ValidationError) as exc:
        parse_day(text, weekday=MON)
    assert message in " ".join(exc.value.messages)


def test_service_refuses_overlaps_and_keeps_previous_hours(new_york):
    hours(new_york, MON, (9, 0), (17, 0))
    with pytest.raises(ValidationError) as exc:
        replace_business_hours(
            business=new_york,
            week={TUE: [(dt.time(8), dt.time(12)), (dt.time(11), dt.time(13))], WED: [(dt.time(8), dt.time(9))]},
        )
    assert "Tuesday: 08:00-12:00 and 11:00-13:00 overlap." in exc.value.message_dict[str(TUE)]
    assert [str(h) for h in new_york.hours.all()] == ["Monday 09:00-17:00"]


# --- the hours & holidays page ----------------------------------------------------------------------------------


URL = "/app/acme/settings/hours/"


def week_post(**days) -> dict:
    data = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), "closed")
    return data | days


def saved(business) -> list[str]:
    return [str(h) for h in BusinessHours.objects.filter(business=business)]


def test_owner_saves_a_week(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    response = client.post(
        URL,
        week_post(monday="08:00-12:00, 13:00-17:00", tuesday="8am-5pm", friday="18:00-00:00", saturday="24h"),
        follow=True,
    )
    assert response.redirect_chain == [(URL, 302)]
    assert "Opening hours saved." in response.text
    assert saved(tenant_a.business) == [
        "Monday 08:00-12:00",
        "Monday 13:00-17:00",
        "Tuesday 08:00-17:00",
        "Friday 18:00-00:00",
        "Saturday 00:00-00:00",
    ]
    form = response.context["form"]
    assert form["monday"].value() == "08:00-12:00, 13:00-17:00"
    assert form["saturday"].value() == "24h"
    assert form["sunday"].value() == "Closed"


def test_saving_replaces_the_previous_week(tenant_a, client_for):
    hours(tenant_a.business, MON, (9, 0), (17, 0))
    hours(tenant_a.business, SUN, (10, 0), (14, 0))
    client_for(tenant_a.admin).post(URL, week_post(wednesday="07:00-15:00"))
    assert saved(tenant_a.business) == ["Wednesday 07:00-15:00"]


def test_overlap_is_refused_naming_the_day_and_nothing_is_saved(tenant_a, client_for):
    hours(tenant_a.business, MON, (9, 0), (17, 0))
    response = client_for(tenant_a.owner).post(
        URL, week_post(monday="07:00-15:00", thursday="08:00-12:00, 11:30-14:00")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors == {"thursday": ["Thursday: 08:00-12:00 and 11:30-14:00 overlap."]}
    assert "Nothing was saved" in response.text
    assert "Thursday: 08:00-12:00 and 11:30-14:00 overlap." in response.text
    assert form["thursday"].value() == "08:00-12:00, 11:30-14:00"  # what they typed stays in the box
    assert saved(tenant_a.business) == ["Monday 09:00-17:00"]


def test_closes_before_opens_is_refused_and_nothing_is_saved(tenant_a, client_for):
    hours(tenant_a.business, MON, (9, 0), (17, 0))
    response = client_for(tenant_a.owner).post(URL, week_post(monday="10:00-16:00", tuesday="17:00-08:00"))
    errors = response.context["form"].errors
    assert list(errors) == ["tuesday"]
    assert errors["tuesday"][0].startswith("Tuesday: 17:00-08:00 closes before it opens.")
    assert saved(tenant_a.business) == ["Monday 09:00-17:00"]


def test_preset_fills_the_form_without_saving(tenant_a, client_for):
    response = client_for(tenant_a.owner).get(URL + "?preset=weekdays")
    form = response.context["form"]
    assert [form[day].value() for day in ("monday", "friday", "saturday")] == ["08:00-17:00", "08:00-17:00", "Closed"]
    assert "Nothing is saved until you press Save hours" in response.text
    assert saved(tenant_a.business) == []
    always = client_for(tenant_a.owner).get(URL + "?preset=always").context["form"]
    assert always["sunday"].value() == "24h"


def test_page_has_labels_and_csrf(tenant_a, client_for):
    response = client_for(tenant_a.owner).get(URL)
    html = response.text
    assert html.count("csrfmiddlewaretoken") >= 2  # hours form and the add-holiday form
    for day in ("monday", "sunday"):
        assert f'<label for="id_{day}">' in html
    assert '<label for="id_date">' in html


@time_machine.travel(utc(2026, 3, 6, 23, 0), tick=False)  # Friday 18:00 EST
def test_page_shows_closed_and_next_opening_in_business_time(tenant_a, client_for):
    weekdays_8_to_5(tenant_a.business)
    response = client_for(tenant_a.owner).get(URL)
    assert "Closed now · opens Mon 9 Mar, 08:00" in response.text  # 12:00 UTC, after the DST change


@time_machine.travel(utc(2026, 3, 4, 15, 0), tick=False)  # Wednesday 10:00 EST
def test_page_shows_open_now(tenant_a, client_for):
    weekdays_8_to_5(tenant_a.business)
    assert "Open now" in client_for(tenant_a.owner).get(URL).text


@time_machine.travel(utc(2026, 12, 25, 15, 0), tick=False)
def test_page_names_todays_holiday(tenant_a, client_for):
    weekdays_8_to_5(tenant_a.business)
    HolidayFactory(business=tenant_a.business, date=dt.date(2026, 12, 25), name="Christmas Day")
    assert "Closed now · Christmas Day · opens Mon 28 Dec, 08:00" in client_for(tenant_a.owner).get(URL).text


# --- holidays ---------------------------------------------------------------------------------------------------


HOLIDAYS = "/app/acme/settings/hours/holidays/"


@time_machine.travel(utc(2026, 12, 1, 15, 0), tick=False)
def test_add_holiday(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(HOLIDAYS, {"date": "2026-12-25", "name": "Christmas Day"}, follow=True)
    assert response.redirect_chain == [(URL + "#holidays", 302)]
    assert "Closed all day on Friday 25 December 2026 (Christmas Day)." in response.text
    assert list(Holiday.objects.filter(business=tenant_a.business).values_list("date", "name")) == [
        (dt.date(2026, 12, 25), "Christmas Day")
    ]
    assert "Fri 25 Dec 2026" in response.text


@time_machine.travel(utc(2026, 12, 1, 15, 0), tick=False)
def test_duplicate_holiday_date_is_refused(tenant_a, client_for):
    HolidayFactory(business=tenant_a.business, date=dt.date(2026, 12, 25), name="Christmas Day")
    response = client_for(tenant_a.owner).post(HOLIDAYS, {"date": "2026-12-25", "name": "Again"})
    assert response.status_code == 200
    assert response.context["holiday_form"].errors == {"date": ["Friday 25 December 2026 is already a holiday."]}
    assert Holiday.objects.filter(business=tenant_a.business).count() == 1


@time_machine.travel(utc(2026, 12, 1, 15, 0), tick=False)
def test_same_date_in_another_business_is_fine(tenant_a, tenant_b, client_for):
    HolidayFactory(business=tenant_b.business, date=dt.date(2026, 12, 25))
    client_for(tenant_a.owner).post(HOLIDAYS, {"date": "2026-12-25"})
    assert Holiday.objects.filter(business=tenant_a.business, date=dt.date(2026, 12, 25)).exists()


@time_machine.travel(utc(2026, 12, 1, 15, 0), tick=False)
def test_past_holiday_is_refused(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(HOLIDAYS, {"date": "2026-11-30"})
    assert "That date has passed" in response.context["holiday_form"].errors["date"][0]
    assert not Holiday.objects.exists()


@time_machine.travel(utc(2026, 12, 1, 15, 0), tick=False)
def test_only_upcoming_holidays_are_listed(tenant_a, client_for):
    HolidayFactory(business=tenant_a.business, date=dt.date(2026, 11, 26), name="Thanksgiving")
    HolidayFactory(business=tenant_a.business, date=dt.date(2026, 12, 25), name="Christmas Day")
    text = client_for(tenant_a.owner).get(URL).text
    assert "Christmas Day" in text
    assert "Thanksgiving" not in text


def test_delete_holiday(tenant_a, client_for):
    holiday = HolidayFactory(business=tenant_a.business, date=dt.date(2030, 1, 1))
    response = client_for(tenant_a.admin).post(f"{HOLIDAYS}{holiday.pk}/delete/", follow=True)
    assert "Tuesday 1 January 2030 is no longer a holiday." in response.text
    assert not Holiday.objects.filter(pk=holiday.pk).exists()


def test_delete_needs_post(tenant_a, client_for):
    holiday = HolidayFactory(business=tenant_a.business, date=dt.date(2030, 1, 1))
    assert client_for(tenant_a.owner).get(f"{HOLIDAYS}{holiday.pk}/delete/").status_code == 405
    assert Holiday.objects.filter(pk=holiday.pk).exists()


def test_cannot_delete_another_business_holiday_through_own_slug(tenant_a, tenant_b, client_for):
    theirs = HolidayFactory(business=tenant_b.business, date=dt.date(2030, 1, 1))
    response = client_for(tenant_a.owner).post(f"{HOLIDAYS}{theirs.pk}/delete/")
    assert response.status_code == 404
    assert Holiday.objects.filter(pk=theirs.pk).exists()
