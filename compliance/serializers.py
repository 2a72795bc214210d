"""REST API representation of the consent ledger (read only)."""

from rest_framework import serializers

from compliance.models import ConsentEvent


class ConsentEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "phone",
            "kind",
            "source_ref",
            "disclosure_text",
            "raw_text",
            "matched",
            "note",
            "review",
            "created_at",
        ]
        read_only_fields = fields
