"""Quiet hours for automated messages that are not the immediate reply to the caller's own call.

Pure: no database, no clock (the caller passes `at`). Rules, in the recipient's local time (CARRIER-NOTES, "US
rules the product implements"); a window's start is allowed and its end is not (21:00:00 is already too late):

- federal: 08:00-21:00 every day;
- Florida, Oklahoma, Maryland, Washington: 08:00-20:00;
- Connecticut: 09:00-20:00;
- Texas: 09:00-21:00 Monday to Saturday, 12:00-21:00 Sunday;
- Alabama, Louisiana: the federal window, and nothing on Sunday (so Monday 08:00).

Where the recipient is comes from their number: the state from the area code (`us_area_codes.AREA_CODE_STATE`)
and the time zones from phonenumbers' prefix data, which is finer than the area code (850 is split between
Eastern and Central Florida; 208 between Mountain and Pacific Idaho). When phonenumbers gives several zones, the
window has to hold in every one of them at the same instant: the strictest reading.

When we cannot tell where the recipient is (an unparseable or invalid number, a US non-geographic number such as
8XX toll-free or 5XX, or a US area code newer than our table), we assume the worst on both axes: the strictest
combination of every rule above (Monday to Saturday 09:00-20:00, nothing on Sunday) and it must hold in every
US zone from America/New_York to Pacific/Honolulu at once (on a weekday in summer that leaves 19:00-00:00 UTC).
Valid numbers outside the US states (Canada, the territories, other countries) get the federal window in their
own zones: no state rule applies, and the federal hours are a sensible courtesy anywhere.

Correct across DST changes: every check converts the instant to each zone with zoneinfo, and candidate times are
built from local wall-clock times on each local date.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone

from compliance.us_area_codes import AREA_CODE_STATE

# The zones a US number can be in when we cannot locate it, east to west.
US_TIME_ZONES: tuple[str, ...] = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Adak",
    "Pacific/Honolulu",
)
_UNKNOWN_ZONE = "Etc/Unknown"
# How far ahead to look for a window; every real rule set opens within two days, this is a safety bound.
_SEARCH_DAYS = 14

SUNDAY = 6  # date.weekday()

Window = tuple[time, time]  # [start, end) in local wall-clock time
DayRule = Callable[[date], Window | None]  # None: no sends that day


class NoSendWindowError(ValueError):
    """The rules can never be met at the same time in all of the number's zones (no US number can cause this)."""


@dataclass(frozen=True)
class Region:
    """Where a recipient is, as far as their number tells: state (USPS code) or None, and candidate IANA zones."""

    state: str | None
    time_zones: tuple[str, ...]
    # phonenumbers' region for the number ("US", "CA", "PR"...), None when the number is invalid.
    country: str | None = None

    @property
    def located(self) -> bool:
        """False when we fell back to "somewhere in the US": the strictest rules apply."""
        return self.state is not None or self.country not in (None, "US")


def _hours(start: int, end: int) -> Window:
    return (time(start), time(end))


def _weekly(monday_to_saturday: Window, sunday: Window | None) -> DayRule:
    def rule(day: date) -> Window | None:
        return sunday if day.weekday() == SUNDAY else monday_to_saturday

    return rule


FEDERAL: DayRule = _weekly(_hours(8, 21), _hours(8, 21))
STATE_RULES: dict[str, DayRule] = {
    "FL": _weekly(_hours(8, 20), _hours(8, 20)),
    "OK": _weekly(_hours(8, 20), _hours(8, 20)),
    "MD": _weekly(_hours(8, 20), _hours(8, 20)),
    "WA": _weekly(_hours(8, 20), _hours(8, 20)),
    "CT": _weekly(_hours(9, 20), _hours(9, 20)),
    "TX": _weekly(_hours(9, 21), _hours(12, 21)),
    "AL": _weekly(_hours(8, 21), None),
    "LA": _weekly(_hours(8, 21), None),
}


def _intersect(rules: Iterable[DayRule]) -> DayRule:
    rules = tuple(rules)

    def rule(day: date) -> Window | None:
        start, end = time.min, time.max
        for each in rules:
            window = each(day)
            if window is None:
                return None
            start, end = max(start, window[0]), min(end, window[1])
        return (start, end) if start < end else None

    return rule


STRICTEST: DayRule = _intersect((FEDERAL, *STATE_RULES.values()))


def rule_for(region: Region) -> DayRule:
    """The day rule for a region: its state's (always within the federal window), or the strictest if unlocated."""
    if not region.located:
        return STRICTEST
    state_rule = STATE_RULES.get(region.state or "")
    return _intersect((FEDERAL, state_rule)) if state_rule else FEDERAL


def recipient_region(e164: str) -> Region:
    """Locate a number. Never raises: anything unparseable is "somewhere in the US"."""
    try:
        number = phonenumbers.parse(e164, "US")
    except phonenumbers.NumberParseException:
        return Region(state=None, time_zones=US_TIME_ZONES)
    if not phonenumbers.is_valid_number(number):
        return Region(state=None, time_zones=US_TIME_ZONES)
    country = phonenumbers.region_code_for_number(number)
    state = None
    if number.country_code == 1:
        state = AREA_CODE_STATE.get(str(number.national_number)[:3])
    if state is None and country == "US":
        # Non-geographic (8XX, 5XX) or an area code newer than our table: phonenumbers answers with every NANP zone
        # (Guam to Newfoundland), which would leave no window; assume only that it is in the US.
        return Region(state=None, time_zones=US_TIME_ZONES, country=country)
    zones = tuple(zone for zone in phone_timezone.time_zones_for_number(number) if zone != _UNKNOWN_ZONE)
    return Region(state=state, time_zones=zones or US_TIME_ZONES, country=country)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _allowed_in(instant: datetime, zone: ZoneInfo, rule: DayRule) -> bool:
    local = instant.astimezone(zone)
    window = rule(local.date())
    return window is not None and window[0] <= local.time() < window[1]


def is_allowed(region: Region, at: datetime, rule: DayRule | None = None) -> bool:
    """True when `at` is inside the window in every one of the region's zones."""
    rule = rule or rule_for(region)
    return all(_allowed_in(at, _zone(name), rule) for name in region.time_zones)


def next_allowed_send(e164: str, at: datetime) -> datetime:
    """`at` itself when a non-immediate automated message may go to `e164` now, else the earliest instant (aware,
    UTC) when it may. Pure and deterministic; raises ValueError for a naive `at`, and NoSendWindowError only for a
    foreign number whose zones never share a window (no US or Canadian number can)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("next_allowed_send needs an aware datetime")
    region = recipient_region(e164)
    rule = rule_for(region)
    if is_allowed(region, at, rule):
        return at
    # The earliest instant at which every zone's window is open is the latest of the zones' window starts, so it is
    # one of those starts: try each zone's local window start on each local date, in time order.
    zones = [_zone(name) for name in region.time_zones]
    at_utc = at.astimezone(UTC)
    candidates = set()
    for zone in zones:
        first_day = at_utc.astimezone(zone).date()
        for offset in range(_SEARCH_DAYS + 1):
            day = first_day + timedelta(days=offset)
            window = rule(day)
            if window is None:
                continue
            start = datetime.combine(day, window[0], tzinfo=zone).astimezone(UTC)
            if start > at_utc:
                candidates.add(start)
    for candidate in sorted(candidates):
        if is_allowed(region, candidate, rule):
            return candidate
    raise NoSendWindowError(f"no quiet-hours window within {_SEARCH_DAYS} days for zones {region.time_zones}")
