"""The tenant (Business), its people (Membership, Invitation) and its opening hours."""

import datetime as dt
import hashlib
import secrets
import zoneinfo

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

TIMEZONE_CHOICES = sorted((tz, tz) for tz in zoneinfo.available_timezones() if "/" in tz and not tz.startswith("Etc/"))
hex_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Enter a colour like #1d4ed8.")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractUser):
    """A person who logs in. Identified by email; may belong to several businesses."""

    username = None
    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    # The member's own mobile, for alerts and call-back bridging (E.164).
    phone = models.CharField(max_length=20, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []
    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email.split("@")[0]


class Business(models.Model):
    """The tenant: a service business whose missed calls we recover."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(
        max_length=50,
        unique=True,
        help_text="Used in your dashboard address: /app/<slug>/. Lowercase letters, digits, -.",
    )
    timezone = models.CharField(max_length=64, choices=TIMEZONE_CHOICES, default="America/New_York")
    display_name = models.CharField(
        max_length=60,
        blank=True,
        help_text="How texts name you, e.g. 'Acme Plumbing'. Defaults to the business name.",
    )
    brand_color = models.CharField(max_length=7, default="#1d4ed8", validators=[hex_colour])
    logo = models.ImageField(upload_to="logos/%Y/%m/", blank=True)
    booking_url = models.URLField(blank=True, help_text="Online booking page offered in texts, if you have one.")
    help_text = models.TextField(
        blank=True, max_length=300, help_text="Sent when a caller texts HELP: how to reach a person."
    )
    is_active = models.BooleanField(default=True)
    repeat_call_window_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="A caller who calls again within this many minutes is not texted a second time."
    )
    # Set when an owner has looked over the text templates; the onboarding checklist reads it.
    templates_reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "businesses"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def sender_name(self) -> str:
        return self.display_name or self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def local(self, at: dt.datetime) -> dt.datetime:
        return at.astimezone(self.tz)

    def is_open(self, at: dt.datetime | None = None) -> bool:
        """Whether the business is open at `at` (aware), judged on the local wall clock, so DST shifts are right.
        Reads `hours` and `holidays` through .all(), so a caller that prefetched them runs no query."""
        local = self.local(at or timezone.now())
        if any(h.date == local.date() for h in self.holidays.all()):
            return False
        return any(i.weekday == local.weekday() and i.contains(local.time()) for i in self.hours.all())

    def next_opening(self, after: dt.datetime | None = None) -> dt.datetime | None:
        """The next moment (aware, local time zone) the business opens after `after`; None if never in 2 weeks."""
        local = self.local(after or timezone.now())
        if self.is_open(local):
            return local
        intervals = list(self.hours.all())
        closed = {h.date for h in self.holidays.all()}
        for offset in range(15):
            day = local.date() + dt.timedelta(days=offset)
            if day in closed:
                continue
            starts = sorted(i.opens for i in intervals if i.weekday == day.weekday())
            for opens in starts:
                candidate = dt.datetime.combine(day, opens, tzinfo=self.tz)
                # fold=0 picks the first of an ambiguous wall time; a non-existent one is pushed past the gap
                candidate = candidate.astimezone(dt.UTC).astimezone(self.tz)
                if candidate > local:
                    return candidate
        return None


class Membership(models.Model):
    """A user's place in a business. The role decides what they may change."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"  # everything, including billing-grade settings and the team
        ADMIN = "admin", "Admin"  # settings and team, but cannot remove or demote owners
        OPERATOR = "operator", "Operator"  # works the inbox

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.OPERATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # tenant resolution: one membership per (business, user)
            models.UniqueConstraint(fields=["business", "user"], name="membership_business_user_uniq"),
        ]
        indexes = [models.Index(fields=["user"], name="membership_user_idx")]  # business switcher

    def __str__(self) -> str:
        return f"{self.user} @ {self.business} ({self.role})"

    @property
    def is_manager(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class Invitation(models.Model):
    """An emailed invitation to join a business with a role. The token is stored hashed."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.OPERATOR)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["business", "email"], name="invitation_business_email_idx")]  # team page

    def __str__(self) -> str:
        return f"{self.email} → {self.business}"

    @staticmethod
    def new_token() -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, Invitation.hash_token(token)

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class BusinessHours(models.Model):
    """One opening interval on one weekday, local time. Several per day are allowed (e.g. a lunch break).

    `closes` of 00:00 means midnight at the end of the day.
    """

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name_plural = "business hours"
        # is_open: intervals of one business on one weekday
        indexes = [models.Index(fields=["business", "weekday"], name="hours_business_weekday_idx")]
        constraints = [
            models.UniqueConstraint(fields=["business", "weekday", "opens"], name="hours_business_weekday_opens_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    @property
    def ends_at_midnight(self) -> bool:
        return self.closes == dt.time(0, 0)

    def contains(self, t: dt.time) -> bool:
        return self.opens <= t and (self.ends_at_midnight or t < self.closes)


class Holiday(models.Model):
    """A whole local day the business is closed."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["business", "date"], name="holiday_business_date_uniq")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class ApiKey(models.Model):
    """A secret an integration sends as `Authorization: Bearer <key>` to the REST API. The key decides the
    business. Only a SHA-256 hash of the secret is stored (the secret is long and random, so a slow hash adds
    nothing); the owner sees the whole key once, when it is created, and afterwards only its prefix."""

    PREFIX_CHARS = 12  # "sd_" and 9 random characters: enough to tell keys apart in a list, useless to an attacker

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=PREFIX_CHARS)
    key_hash = models.CharField(max_length=64, unique=True)  # authentication looks the key up by its hash
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # API keys page: a business's keys, newest first
        indexes = [models.Index(fields=["business", "-created_at"], name="apikey_business_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def new_secret() -> tuple[str, str]:
        """A new key and its hash."""
        key = "sd_" + secrets.token_urlsafe(32)
        return key, ApiKey.hash_secret(key)

    @staticmethod
    def hash_secret(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
