"""Quiet hours: state windows in the recipient's local time, several zones, unknown numbers, DST changes."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance.quiet_hours import (
    US_TIME_ZONES,
    Region,
    is_allowed,
    next_allowed_send,
    recipient_region,
)
from compliance.us_area_codes import AREA_CODE_STATE

EASTERN = ZoneInfo("America/New_York")
CENTRAL = ZoneInfo("America/Chicago")
MOUNTAIN = ZoneInfo("America/Boise")
PACIFIC = ZoneInfo("America/Los_Angeles")

MIAMI = "+13052345678"  # FL, Eastern
DALLAS = "+12142345678"  # TX, Central
BIRMINGHAM = "+12052345678"  # AL, Central
NEW_ORLEANS = "+15042345678"  # LA, Central
SAN_FRANCISCO = "+14152345678"  # CA, Pacific
HARTFORD = "+18602345678"  # CT, Eastern
SEATTLE = "+12062345678"  # WA, Pacific
BALTIMORE = "+14102345678"  # MD, Eastern
TULSA = "+19182345678"  # OK, Central
NEW_YORK = "+12122345678"  # NY, Eastern: federal only
IDAHO_TWO_ZONES = "+12085550123"  # ID: phonenumbers gives America/Boise and America/Los_Angeles
TOLL_FREE = "+18002345678"


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


@pytest.mark.parametrize(
    "number",
    [MIAMI, DALLAS, BIRMINGHAM, NEW_ORLEANS, SAN_FRANCISCO, HARTFORD, SEATTLE, BALTIMORE, TULSA, NEW_YORK],
)
def test_fixture_numbers_are_valid(number):
    assert phonenumbers.is_valid_number(phonenumbers.parse(number))


@pytest.mark.parametrize(
    ("number", "state", "zones"),
    [
        (MIAMI, "FL", ("America/New_York",)),
        (DALLAS, "TX", ("America/Chicago",)),
        (BIRMINGHAM, "AL", ("America/Chicago",)),
        (NEW_ORLEANS, "LA", ("America/Chicago",)),
        (SAN_FRANCISCO, "CA", ("America/Los_Angeles",)),
        (HARTFORD, "CT", ("America/New_York",)),
        (SEATTLE, "WA", ("America/Los_Angeles",)),
        (BALTIMORE, "MD", ("America/New_York",)),
        (TULSA, "OK", ("America/Chicago",)),
        ("+18502345678", "FL", ("America/Chicago",)),  # the Panhandle: prefix data beats the area code
        ("+12022345678", "DC", ("America/New_York",)),
        ("+19072345678", "AK", ("America/Adak", "America/Anchorage")),  # one area code, two zones
        ("+18082345678", "HI", ("Pacific/Honolulu",)),
    ],
)
def test_recipient_region(number, state, zones):
    region = recipient_region(number)
    assert (region.state, region.time_zones) == (state, zones)
    assert region.located


def test_numbers_we_cannot_place_are_somewhere_in_the_us():
    for number in [TOLL_FREE, "+15002345678", "not a number", "", "+1999", "+12345"]:
        region = recipient_region(number)
        assert region == Region(state=None, time_zones=US_TIME_ZONES, country=region.country)
        assert not region.located


def test_a_canadian_number_keeps_its_own_zone_and_the_federal_window():
    region = recipient_region("+16472345678")
    assert region == Region(state=None, time_zones=("America/Toronto",), country="CA")
    toronto = ZoneInfo("America/Toronto")
    assert next_allowed_send("+16472345678", local(toronto, 2026, 6, 7, 20, 30)) == local(toronto, 2026, 6, 7, 20, 30)


def test_area_code_table_covers_every_state_and_only_real_codes():
    assert len(set(AREA_CODE_STATE.values()) - {"PR", "VI", "GU", "AS", "MP"}) == 51  # 50 states and DC
    assert all(len(npa) == 3 and npa.isdigit() and npa[0] in "23456789" for npa in AREA_CODE_STATE)
    assert not {"800", "833", "844", "855", "866", "877", "888", "900", "500"} & AREA_CODE_STATE.keys()


def test_florida_at_2030_local_waits_until_8_next_morning():
    at = local(EASTERN, 2026, 6, 10, 20, 30)  # a Wednesday
    result = next_allowed_send(MIAMI, at)
    assert result == local(EASTERN, 2026, 6, 11, 8, 0)
    assert result.tzinfo is UTC


def test_florida_at_1959_is_allowed_and_returned_unchanged():
    at = local(EASTERN, 2026, 6, 10, 19, 59)
    assert next_allowed_send(MIAMI, at) is at


@pytest.mark.parametrize("number", [BALTIMORE, TULSA, SEATTLE])
def test_other_eight_to_eight_states(number):
    zone = ZoneInfo(recipient_region(number).time_zones[0])
    assert next_allowed_send(number, local(zone, 2026, 6, 10, 20, 0)) == local(zone, 2026, 6, 11, 8, 0)
    assert next_allowed_send(number, local(zone, 2026, 6, 10, 7, 0)) == local(zone, 2026, 6, 10, 8, 0)


def test_texas_sunday_10_waits_until_noon():
    assert next_allowed_send(DALLAS, local(CENTRAL, 2026, 6, 7, 10, 0)) == local(CENTRAL, 2026, 6, 7, 12, 0)


def test_texas_weekday_starts_at_9():
    assert next_allowed_send(DALLAS, local(CENTRAL, 2026, 6, 8, 8, 30)) == local(CENTRAL, 2026, 6, 8, 9, 0)
    assert next_allowed_send(DALLAS, local(CENTRAL, 2026, 6, 8, 20, 59)) == local(CENTRAL, 2026, 6, 8, 20, 59)


def test_texas_saturday_night_waits_until_sunday_noon():
    assert next_allowed_send(DALLAS, local(CENTRAL, 2026, 6, 6, 21, 0)) == local(CENTRAL, 2026, 6, 7, 12, 0)


@pytest.mark.parametrize("number", [BIRMINGHAM, NEW_ORLEANS])
def test_alabama_and_louisiana_sunday_waits_until_monday_8(number):
    assert next_allowed_send(number, local(CENTRAL, 2026, 6, 7, 11, 0)) == local(CENTRAL, 2026, 6, 8, 8, 0)
    # Saturday evening after 21:00 skips the whole Sunday too.
    assert next_allowed_send(number, local(CENTRAL, 2026, 6, 6, 21, 30)) == local(CENTRAL, 2026, 6, 8, 8, 0)


def test_connecticut_is_nine_to_eight():
    assert next_allowed_send(HARTFORD, local(EASTERN, 2026, 6, 10, 8, 30)) == local(EASTERN, 2026, 6, 10, 9, 0)
    assert next_allowed_send(HARTFORD, local(EASTERN, 2026, 6, 10, 20, 0)) == local(EASTERN, 2026, 6, 11, 9, 0)


def test_california_at_0759_waits_one_minute():
    assert next_allowed_send(SAN_FRANCISCO, local(PACIFIC, 2026, 6, 10, 7, 59)) == local(PACIFIC, 2026, 6, 10, 8, 0)


def test_federal_window_start_is_in_and_end_is_out():
    at_eight = local(EASTERN, 2026, 6, 10, 8, 0)
    assert next_allowed_send(NEW_YORK, at_eight) is at_eight
    last_second = local(EASTERN, 2026, 6, 10, 20, 59, 59)
    assert next_allowed_send(NEW_YORK, last_second) is last_second
    assert next_allowed_send(NEW_YORK, local(EASTERN, 2026, 6, 10, 21, 0)) == local(EASTERN, 2026, 6, 11, 8, 0)


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="aware"):
        next_allowed_send(NEW_YORK, datetime(2026, 6, 10, 12, 0))


# US DST 2026: starts Sunday 8 March (02:00 -> 03:00), ends Sunday 1 November (02:00 -> 01:00).


def test_dst_start_sunday_texas_noon_is_cdt():
    result = next_allowed_send(DALLAS, local(CENTRAL, 2026, 3, 8, 1, 30))  # still CST
    assert result == datetime(2026, 3, 8, 17, 0, tzinfo=UTC)  # 12:00 CDT (UTC-5), not 18:00 UTC
    assert result.astimezone(CENTRAL).hour == 12


def test_dst_start_sunday_florida_at_night_waits_until_8_edt():
    result = next_allowed_send(MIAMI, local(EASTERN, 2026, 3, 7, 22, 0))  # Saturday, EST
    assert result == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_dst_end_sunday_during_the_repeated_hour():
    first_130 = datetime(2026, 11, 1, 1, 30, tzinfo=PACIFIC, fold=0)  # PDT
    second_130 = datetime(2026, 11, 1, 1, 30, tzinfo=PACIFIC, fold=1)  # PST
    expected = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 08:00 PST
    assert next_allowed_send(SAN_FRANCISCO, first_130) == expected
    assert next_allowed_send(SAN_FRANCISCO, second_130) == expected


def test_dst_end_sunday_alabama_still_waits_until_monday():
    result = next_allowed_send(BIRMINGHAM, local(CENTRAL, 2026, 11, 1, 1, 30))
    assert result == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # Monday 08:00 CST


def test_dst_end_sunday_texas_window_closes_at_21_cst():
    at = local(CENTRAL, 2026, 11, 1, 21, 0)
    assert next_allowed_send(DALLAS, at) == local(CENTRAL, 2026, 11, 2, 9, 0)


def test_several_zones_take_the_strictest():
    region = recipient_region(IDAHO_TWO_ZONES)
    assert region.state == "ID"
    assert set(region.time_zones) == {"America/Boise", "America/Los_Angeles"}
    # 07:30 Pacific is 08:30 Mountain: open in Boise, not yet in Los Angeles.
    assert next_allowed_send(IDAHO_TWO_ZONES, local(MOUNTAIN, 2026, 6, 10, 8, 30)) == local(PACIFIC, 2026, 6, 10, 8)
    # 20:30 Pacific is 21:30 Mountain: closed in Boise, so the next morning in Los Angeles.
    assert next_allowed_send(IDAHO_TWO_ZONES, local(PACIFIC, 2026, 6, 10, 20, 30)) == local(PACIFIC, 2026, 6, 11, 8)
    # Inside both.
    noon = local(PACIFIC, 2026, 6, 10, 12, 0)
    assert next_allowed_send(IDAHO_TWO_ZONES, noon) is noon


def test_unknown_numbers_get_the_strictest_rules_in_every_us_zone():
    # Weekday in summer: 09:00 in Honolulu (19:00 UTC) to 20:00 in New York (00:00 UTC).
    assert next_allowed_send(TOLL_FREE, datetime(2026, 6, 10, 12, 0, tzinfo=UTC)) == datetime(
        2026, 6, 10, 19, 0, tzinfo=UTC
    )
    inside = datetime(2026, 6, 10, 23, 59, tzinfo=UTC)
    assert next_allowed_send("garbage", inside) is inside
    # No Sunday anywhere (Alabama, Louisiana): Saturday night waits until Monday 09:00 in Honolulu.
    assert next_allowed_send(TOLL_FREE, datetime(2026, 6, 7, 0, 30, tzinfo=UTC)) == datetime(
        2026, 6, 8, 19, 0, tzinfo=UTC
    )


NUMBERS = [MIAMI, DALLAS, BIRMINGHAM, NEW_ORLEANS, SAN_FRANCISCO, HARTFORD, SEATTLE, NEW_YORK, IDAHO_TWO_ZONES]


@given(
    st.sampled_from([*NUMBERS, TOLL_FREE, "nonsense"]),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
)
def test_result_is_allowed_not_earlier_and_nothing_allowed_in_between(number, at):
    result = next_allowed_send(number, at)
    region = recipient_region(number)
    assert result >= at
    assert is_allowed(region, result)
    if result != at:
        assert result.tzinfo is UTC
        # Minimal: a minute earlier (and `at` itself) is still quiet. Window starts are on the hour.
        assert not is_allowed(region, at)
        assert result - timedelta(minutes=1) < at or not is_allowed(region, result - timedelta(minutes=1))
        assert result - at < timedelta(days=3)
