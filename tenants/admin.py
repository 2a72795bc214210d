"""Django admin for platform staff: people, businesses and everything a business owns in this app.

Owners never see this; it is for support. Edits here bypass the settings pages, so the opening-hours forms
reuse the same overlap checks the owner's page uses.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from django.utils import timezone
from django.utils.html import format_html

from tenants.models import ApiKey, Business, BusinessHours, Holiday, Invitation, Membership, User
from tenants.settings_services import validate_day_intervals

# --- users -----------------------------------------------------------------------------------------------------


class EmailUserCreationForm(AdminUserCreationForm):
    """The admin's "add user" form with email as the login (there is no username)."""

    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("A user with that email address already exists.")
        return email


class EmailUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError("A user with that email address already exists.")
        return email


class UserMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    autocomplete_fields = ["business"]
    fields = ["business", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("full_name", "phone", "first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]
    list_display = ["email", "full_name", "phone", "business_count", "is_staff", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "full_name", "phone"]
    ordering = ["email"]
    inlines = [UserMembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(business_count=Count("memberships"))

    @admin.display(description="businesses", ordering="business_count")
    def business_count(self, obj: User) -> int:
        return obj.business_count

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []


# --- businesses --------------------------------------------------------------------------------------------------


class HoursFormSet(forms.BaseInlineFormSet):
    """All of a business's intervals checked together, the same way the owner's hours page checks them."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        by_day: dict[int, list] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("weekday") is None:
                continue
            by_day.setdefault(data["weekday"], []).append((data["opens"], data["closes"]))
        errors = []
        for weekday, intervals in sorted(by_day.items()):
            try:
                validate_day_intervals(weekday=weekday, intervals=intervals)
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    formset = HoursFormSet
    extra = 0
    fields = ["weekday", "opens", "closes"]


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0
    fields = ["date", "name"]


class BusinessMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "business"
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "display_name", "timezone", "member_count", "is_active", "created_at"]
    list_filter = ["is_active", ("timezone", admin.AllValuesFieldListFilter)]
    search_fields = ["name", "slug", "display_name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["logo_preview", "created_at"]
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("name", "slug", "is_active", "timezone")}),
        ("Texts and branding", {"fields": ("display_name", "brand_color", "logo", "logo_preview", "help_text")}),
        ("Links", {"fields": ("booking_url",)}),
        ("Calls", {"fields": ("repeat_call_window_minutes",)}),
        ("Onboarding", {"fields": ("templates_reviewed_at", "created_at")}),
    )
    inlines = [BusinessMembershipInline, BusinessHoursInline, HolidayInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Business) -> int:
        return obj.member_count

    @admin.display(description="logo preview")
    def logo_preview(self, obj: Business) -> str:
        if not obj.logo:
            return "—"
        return format_html('<img src="{}" alt="" style="max-height:60px;max-width:200px">', obj.logo.url)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "business", "role", "created_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["user__email", "user__full_name", "business__name", "business__slug"]
    autocomplete_fields = ["user", "business"]
    list_select_related = ["user", "business"]
    readonly_fields = ["created_at"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are created (and their token emailed) from the team page; here staff can look and revoke."""

    list_display = ["email", "business", "role", "status", "invited_by", "created_at", "expires_at"]
    list_filter = ["role", "created_at", "expires_at"]
    search_fields = ["email", "business__name", "business__slug"]
    autocomplete_fields = ["business", "invited_by"]
    list_select_related = ["business", "invited_by"]
    readonly_fields = ["token_hash", "created_at", "accepted_at"]
    fields = [
        "business",
        "email",
        "role",
        "invited_by",
        "token_hash",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # only the team page can create one: it is the only place the raw token exists

    @admin.display(description="status")
    def status(self, obj: Invitation) -> str:
        if obj.accepted_at:
            return "accepted"
        if obj.revoked_at:
            return "revoked"
        return "pending" if obj.is_pending else "expired"

    @admin.action(description="Revoke selected pending invitations")
    def revoke(self, request, queryset):
        count = queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} invitation{'s' if count != 1 else ''}.")


class BusinessHoursAdminForm(forms.ModelForm):
    class Meta:
        model = BusinessHours
        fields = ["business", "weekday", "opens", "closes"]

    def clean(self):
        data = super().clean()
        business, weekday = data.get("business"), data.get("weekday")
        if business is None or weekday is None or data.get("opens") is None or data.get("closes") is None:
            return data
        others = BusinessHours.objects.filter(business=business, weekday=weekday).exclude(pk=self.instance.pk)
        intervals = [(i.opens, i.closes) for i in others] + [(data["opens"], data["closes"])]
        validate_day_intervals(weekday=weekday, intervals=intervals)
        return data


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    form = BusinessHoursAdminForm
    list_display = ["business", "weekday", "opens", "closes"]
    list_filter = ["weekday"]
    search_fields = ["business__name", "business__slug"]
    autocomplete_fields = ["business"]
    list_select_related = ["business"]
    ordering = ["business__name", "weekday", "opens"]


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "name", "business"]
    list_filter = ["date"]
    search_fields = ["name", "business__name", "business__slug"]
    autocomplete_fields = ["business"]
    list_select_related = ["business"]
    date_hierarchy = "date"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created on the owners' API keys page (the only place the secret exists); staff can look and
    revoke, e.g. when a key leaks."""

    list_display = ["name", "business", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["created_at", "revoked_at"]
    search_fields = ["name", "prefix", "business__name", "business__slug"]
    list_select_related = ["business", "created_by"]
    readonly_fields = ["business", "name", "prefix", "key_hash", "created_by", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key{'s' if count != 1 else ''}.")
