"""Reads for the dashboard and settings pages. Every function takes the business and reads only its rows."""

import dataclasses
import datetime as dt

from django.apps import apps
from django.core.exceptions import FieldError
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from tenants.models import Business, BusinessHours, Holiday

DEFAULT_BRAND_COLOR = Business._meta.get_field("brand_color").default


@dataclasses.dataclass(frozen=True)
class ChecklistItem:
    """One onboarding step: what it is, whether it is done, and the page that does it."""

    key: str
    title: str
    detail: str
    done: bool
    url: str


@dataclasses.dataclass(frozen=True)
class OpeningStatus:
    is_open: bool
    next_opening: dt.datetime | None  # aware, in the business's time zone; None when open or never in 2 weeks
    holiday: Holiday | None  # today's holiday, when that is why it is closed


def _url(business: Business, *names: str) -> str:
    """The first of `names` that resolves for this business; pages added by later issues take over their
    checklist link without this module changing."""
    for name in names:
        try:
            return reverse(name, kwargs={"business_slug": business.slug})
        except NoReverseMatch:
            continue
    raise NoReverseMatch(f"None of {names} resolve")


def _exists_in(app_label: str, model_name: str, business: Business, **filters) -> bool:
    """Whether `business` has a matching row of a model from another app; False while that model (or a filtered
    field) does not exist, so the checklist works before and without the telephony app's tables."""
    try:
        model: type[models.Model] = apps.get_model(app_label, model_name)
        return model._default_manager.filter(business=business, **filters).exists()
    except (LookupError, FieldError):
        return False


def has_simulator_number(*, business: Business) -> bool:
    """Whether the business has a number on the simulator carrier (the simulator page exists only then)."""
    return _exists_in("telephony", "PhoneNumber", business, provider="simulator")


def _test_call_url(business: Business, *, has_number: bool, for_owner: bool) -> str:
    """Where to make a test call: the simulator page for an owner whose business has a simulator number (it is
    owners only, and 404s without one), the calls page otherwise, and the numbers page while there is no number
    at all."""
    if not has_number:
        return _url(business, "settings_numbers", "numbers", "settings")
    if for_owner and has_simulator_number(business=business):
        return _url(business, "simulator", "calls")
    return _url(business, "calls")


def branding_done(business: Business) -> bool:
    return bool(business.logo) or business.brand_color.lower() != DEFAULT_BRAND_COLOR or bool(business.display_name)


def onboarding_checklist(*, business: Business, for_owner: bool = False) -> list[ChecklistItem]:
    """The set-up steps in the order an owner should do them, each with whether it is done and the page that
    does it for the person looking (`for_owner`: an owner, who may open the simulator). 3 to 5 small queries."""
    has_number = _exists_in("telephony", "PhoneNumber", business)
    return [
        ChecklistItem(
            key="number",
            title="Connect your business number",
            detail="Missed calls to this number get an instant text back from you.",
            done=has_number,
            url=_url(business, "settings_numbers", "numbers", "settings"),
        ),
        ChecklistItem(
            key="hours",
            title="Set your opening hours",
            detail="So callers hear the right thing after hours and on holidays.",
            done=BusinessHours.objects.filter(business=business).exists(),
            url=_url(business, "settings_hours"),
        ),
        ChecklistItem(
            key="branding",
            title="Add your name, logo and colour",
            detail="Callers see them on the page they open from your text.",
            done=branding_done(business),
            url=_url(business, "settings_profile"),
        ),
        ChecklistItem(
            key="templates",
            title="Review the text messages",
            detail="Check the words callers receive from you before they go out.",
            done=business.templates_reviewed_at is not None,
            url=_url(business, "settings-templates", "settings"),
        ),
        ChecklistItem(
            key="test_call",
            title="Make a test call",
            detail="Call your number, let it ring out and watch the text arrive.",
            done=_exists_in("telephony", "Call", business),
            url=_test_call_url(business, has_number=has_number, for_owner=for_owner),
        ),
    ]


def opening_status(*, business: Business, at: dt.datetime | None = None) -> OpeningStatus:
    """Open or closed at `at` (default now), judged on the business's wall clock, and when it next opens."""
    at = at or timezone.now()
    if business.is_open(at):
        return OpeningStatus(is_open=True, next_opening=None, holiday=None)
    today = business.local(at).date()
    holiday = Holiday.objects.filter(business=business, date=today).first()
    return OpeningStatus(is_open=False, next_opening=business.next_opening(at), holiday=holiday)


def week_hours(*, business: Business) -> list[tuple[int, str, list[BusinessHours]]]:
    """(weekday, day name, intervals sorted by opening) for Monday..Sunday, closed days included."""
    by_day: dict[int, list[BusinessHours]] = {day: [] for day in BusinessHours.Weekday.values}
    for interval in BusinessHours.objects.filter(business=business).order_by("weekday", "opens"):
        by_day[interval.weekday].append(interval)
    return [(day, BusinessHours.Weekday(day).label, by_day[day]) for day in BusinessHours.Weekday.values]


def upcoming_holidays(*, business: Business, at: dt.datetime | None = None) -> models.QuerySet[Holiday]:
    """Holidays from today (the business's local date) on, soonest first."""
    today = business.local(at or timezone.now()).date()
    return Holiday.objects.filter(business=business, date__gte=today).order_by("date")


def contrast_with_white(colour: str) -> float:
    """WCAG contrast ratio between `colour` (#rrggbb) and white text, which the intake page header uses."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)
