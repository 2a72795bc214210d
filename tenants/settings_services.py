"""Writes behind the owner's settings pages: profile and branding, opening hours, holidays.

Every function here is keyword-only, runs in one transaction and validates what it is given, so a caller that
skipped the form (a management command, the API later) still cannot store an overlapping week or a file that
is not an image.
"""

import dataclasses
import datetime as dt
import io
import itertools
import secrets
import warnings
from collections.abc import Mapping, Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from PIL import Image, UnidentifiedImageError

from tenants.models import Business, BusinessHours, Holiday

Interval = tuple[dt.time, dt.time]
MIDNIGHT = dt.time(0, 0)
MAX_INTERVALS_PER_DAY = 6

# Pillow format name -> the extension the stored file gets, whatever the upload was called.
LOGO_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
LOGO_MAX_SIDE = 2000


# --- opening hours ---------------------------------------------------------------------------------------------


def weekday_name(weekday: int) -> str:
    return BusinessHours.Weekday(weekday).label


def format_time(value: dt.time) -> str:
    return f"{value:%H:%M}"


def format_interval(opens: dt.time, closes: dt.time) -> str:
    return f"{format_time(opens)}-{format_time(closes)}"


def _end_minutes(closes: dt.time) -> int:
    """Minutes after local midnight at which an interval ends; a 00:00 close is the end of the day."""
    return 24 * 60 if closes == MIDNIGHT else closes.hour * 60 + closes.minute


def _start_minutes(opens: dt.time) -> int:
    return opens.hour * 60 + opens.minute


def validate_day_intervals(*, weekday: int, intervals: Sequence[Interval]) -> list[Interval]:
    """Check one weekday's intervals and return them sorted by opening time.

    Raises ValidationError with one message per problem, each naming the day: an interval that closes at or
    before it opens (a 00:00 close means midnight, so 22:00-00:00 is fine), two intervals that overlap, or
    more than MAX_INTERVALS_PER_DAY intervals. Touching intervals (08:00-12:00, 12:00-17:00) are allowed.
    """
    day = weekday_name(weekday)
    errors: list[str] = []
    if len(intervals) > MAX_INTERVALS_PER_DAY:
        errors.append(f"{day}: at most {MAX_INTERVALS_PER_DAY} opening intervals per day.")
    for opens, closes in intervals:
        if opens.second or opens.microsecond or closes.second or closes.microsecond:
            errors.append(f"{day}: use whole minutes ({format_interval(opens, closes)}).")
        elif _end_minutes(closes) <= _start_minutes(opens):
            hint = " For hours past midnight, close this day at 00:00 and open the next day at 00:00."
            errors.append(f"{day}: {format_interval(opens, closes)} closes before it opens.{hint}")
    ordered = sorted(intervals, key=lambda i: _start_minutes(i[0]))
    for (a_opens, a_closes), (b_opens, b_closes) in itertools.pairwise(ordered):
        if _start_minutes(b_opens) < _end_minutes(a_closes):
            errors.append(
                f"{day}: {format_interval(a_opens, a_closes)} and {format_interval(b_opens, b_closes)} overlap."
            )
    if errors:
        raise ValidationError(errors)
    return ordered


@transaction.atomic
def replace_business_hours(*, business: Business, week: Mapping[int, Sequence[Interval]]) -> list[BusinessHours]:
    """Replace all of `business`'s opening hours with `week` (weekday 0=Monday .. 6=Sunday -> intervals).

    All or nothing: every day is validated before anything is written, and the delete and insert run in one
    transaction, so a failure leaves the previous hours untouched. Days missing from `week` become closed.
    The business row is locked first, so two owners saving at once are applied one after the other rather
    than interleaved. Idempotent: saving the same week twice leaves the same rows.

    Raises ValidationError (a dict keyed by weekday number) when any day is invalid.
    """
    unknown = set(week) - set(BusinessHours.Weekday.values)
    if unknown:
        raise ValueError(f"Unknown weekdays: {sorted(unknown)}")
    cleaned: dict[int, list[Interval]] = {}
    errors: dict[str, list[str]] = {}
    for weekday in BusinessHours.Weekday.values:
        try:
            cleaned[weekday] = validate_day_intervals(weekday=weekday, intervals=week.get(weekday, ()))
        except ValidationError as exc:
            errors[str(weekday)] = exc.messages
    if errors:
        raise ValidationError(errors)

    Business.objects.select_for_update().filter(pk=business.pk).first()
    BusinessHours.objects.filter(business=business).delete()
    return BusinessHours.objects.bulk_create(
        BusinessHours(business=business, weekday=weekday, opens=opens, closes=closes)
        for weekday, intervals in cleaned.items()
        for opens, closes in intervals
    )


# --- holidays --------------------------------------------------------------------------------------------------


@transaction.atomic
def add_holiday(*, business: Business, date: dt.date, name: str = "") -> Holiday:
    """Close `business` for the whole local day `date`.

    The (business, date) unique constraint decides duplicates, so two concurrent adds of the same day cannot
    both succeed; the loser gets a ValidationError on `date`. Not idempotent by design: adding a day twice is
    reported to the person so they notice.
    """
    try:
        with transaction.atomic():
            return Holiday.objects.create(business=business, date=date, name=name.strip())
    except IntegrityError:
        raise ValidationError({"date": f"{date:%A} {date.day} {date:%B %Y} is already a holiday."}) from None


@transaction.atomic
def delete_holiday(*, holiday: Holiday) -> None:
    """Remove one holiday (already scoped to the business by the caller). Idempotent: deleting a row that is
    already gone does nothing."""
    Holiday.objects.filter(pk=holiday.pk, business_id=holiday.business_id).delete()


# --- profile and branding ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CheckedLogo:
    """An upload that Pillow fully decoded as an allowed format within the size limits."""

    content: bytes
    format: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return LOGO_FORMATS[self.format]


def check_logo(upload: UploadedFile) -> CheckedLogo:
    """Prove that `upload` is a PNG, JPEG, WebP or GIF image no larger than LOGO_MAX_BYTES and 2000x2000 px.

    The file name and the browser's content type are ignored: Pillow must recognise the bytes, the header must
    declare an allowed size, and the full image must decode (which catches truncated and corrupt files). The
    byte limit is checked before anything is decoded. Raises ValidationError with a message for the person.
    """
    max_bytes = settings.LOGO_MAX_BYTES
    if upload.size is not None and upload.size > max_bytes:
        raise ValidationError(
            f"That file is {upload.size / 1_048_576:.1f} MB; the logo can be at most {max_bytes / 1_048_576:.0f} MB.",
            code="too_large",
        )
    upload.seek(0)
    content = upload.read(max_bytes + 1)
    upload.seek(0)
    if len(content) > max_bytes:
        raise ValidationError(f"The logo can be at most {max_bytes / 1_048_576:.0f} MB.", code="too_large")
    not_an_image = ValidationError(
        "That file is not a PNG, JPEG, WebP or GIF image (or it is damaged). Export your logo as PNG and try again.",
        code="invalid_image",
    )
    try:
        with warnings.catch_warnings():
            # a "decompression bomb" declares a huge canvas in a tiny file; refuse it rather than decode it
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                image_format, (width, height) = image.format, image.size
                if image_format not in LOGO_FORMATS:
                    raise not_an_image
                if width > LOGO_MAX_SIDE or height > LOGO_MAX_SIDE:
                    raise ValidationError(
                        f"That image is {width}x{height} pixels; the logo can be at most "
                        f"{LOGO_MAX_SIDE}x{LOGO_MAX_SIDE}.",
                        code="too_many_pixels",
                    )
                image.verify()
            with Image.open(io.BytesIO(content)) as image:
                image.load()
    except ValidationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError) as exc:
        raise not_an_image from exc
    except (SyntaxError, ValueError, EOFError) as exc:  # Pillow's plugins raise these for malformed data
        raise not_an_image from exc
    return CheckedLogo(content=content, format=image_format, width=width, height=height)


def _delete_file_on_commit(storage, name: str) -> None:
    if name:
        transaction.on_commit(lambda: storage.delete(name))


@transaction.atomic
def update_business_profile(
    *,
    business: Business,
    name: str,
    display_name: str,
    timezone: str,
    brand_color: str,
    booking_url: str,
    help_text: str,
    logo: UploadedFile | None = None,
    remove_logo: bool = False,
) -> Business:
    """Save the business's profile and branding and return the updated row.

    Runs in one transaction on the locked business row; every field is validated (model validators, time zone
    choices, and `check_logo` on any new logo) before anything is written, so on ValidationError nothing
    changes. A new logo replaces the old one (it wins over `remove_logo`); the stored file is named after the
    format Pillow found, not the upload's name. The replaced or removed file is deleted from storage only
    after the transaction commits, so a rollback never leaves the row pointing at a missing file (a rollback
    after the new file was written leaves an unreferenced file, which is harmless).
    """
    checked = check_logo(logo) if logo is not None else None
    row = Business.objects.select_for_update().get(pk=business.pk)
    old_logo = row.logo.name
    row.name = name.strip()
    row.display_name = display_name.strip()
    row.timezone = timezone
    row.brand_color = brand_color.lower()
    row.booking_url = booking_url.strip()
    row.help_text = help_text.strip()
    row.full_clean(exclude=["logo"])
    if checked is not None:
        filename = f"{row.slug}-{secrets.token_hex(4)}.{checked.extension}"
        row.logo.save(filename, ContentFile(checked.content), save=False)
    elif remove_logo:
        row.logo = ""
    row.save()
    if old_logo and row.logo.name != old_logo:
        _delete_file_on_commit(row.logo.storage, old_logo)
    return row
