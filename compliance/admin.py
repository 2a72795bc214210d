"""Django admin for compliance. The consent ledger and the audit log are evidence: readable, never edited here."""

from django.contrib import admin

from compliance.models import AuditEvent, ComplianceSettings, ConsentEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete, not even for superusers: these rows are legal evidence."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "business", "kind", "phone", "source_ref", "review")
    list_filter = ("kind", "review")
    search_fields = ("business__slug", "phone", "phone_hash", "source_ref")
    list_select_related = ("business",)
    raw_id_fields = ("business", "call", "message", "actor", "reviewed_by")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "business", "action", "actor", "target_type", "target_id")
    list_filter = ("action",)
    search_fields = ("business__slug", "action", "target_id")
    list_select_related = ("business", "actor")
    raw_id_fields = ("business", "actor")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(ComplianceSettings)
class ComplianceSettingsAdmin(admin.ModelAdmin):
    list_display = ("business", "retention_days", "textback_waits_for_quiet_hours", "legal_name", "updated_at")
    search_fields = ("business__slug", "business__name", "legal_name")
    list_select_related = ("business",)
    raw_id_fields = ("business",)
