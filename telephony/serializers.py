"""REST API representations of calls (read only)."""

from rest_framework import serializers

from telephony.models import Call


class CallSerializer(serializers.ModelSerializer):
    business_number = serializers.CharField(source="phone_number.e164", read_only=True)

    class Meta:
        model = Call
        fields = [
            "id",
            "direction",
            "caller",
            "caller_name",
            "caller_city",
            "caller_state",
            "caller_zip",
            "business_number",
            "status",
            "missed_reason",
            "decision",
            "decision_reason",
            "started_at",
            "accepted_at",
            "ended_at",
            "duration",
            "contact",
            "conversation",
        ]
        read_only_fields = fields
