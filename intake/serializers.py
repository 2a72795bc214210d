"""REST API representations of intake form submissions (read only)."""

from rest_framework import serializers

from intake.models import IntakeSubmission


class IntakeSubmissionSerializer(serializers.ModelSerializer):
    class Meta:
        model = IntakeSubmission
        fields = [
            "id",
            "conversation",
            "name",
            "service_type",
            "description",
            "address",
            "zip_code",
            "urgency",
            "callback_window",
            "customer_type",
            "consent_given",
            "consent_disclosure",
            "language",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
