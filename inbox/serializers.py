"""REST API representations of contacts and conversations, and the conversation update a client may send."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inbox.actions import MAX_BOOKED_VALUE
from inbox.models import Contact, Conversation
from tenants.models import User


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "phone", "name", "zip_code", "opted_out", "created_at"]
        read_only_fields = fields


class ContactBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "phone", "name"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    contact = ContactBriefSerializer(read_only=True)
    business_number = serializers.CharField(source="phone_number.e164", read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "contact",
            "business_number",
            "status",
            "priority",
            "assignee",
            "booked_value",
            "lost_reason",
            "lost_note",
            "urgent_reason",
            "tags",
            "created_at",
            "last_activity_at",
            "last_inbound_at",
            "last_outbound_at",
            "first_response_at",
            "closed_at",
            "snoozed_until",
        ]
        read_only_fields = fields

    def get_tags(self, conversation: Conversation) -> list[str]:
        return sorted(tag.name for tag in conversation.tags.all())


@extend_schema_field(OpenApiTypes.INT)
class MemberField(serializers.PrimaryKeyRelatedField):
    """A user id that must belong to a member of the key's business: anyone else's id is refused exactly like an
    id that does not exist."""

    default_error_messages = {
        "does_not_exist": "No member of this business has id {pk_value}.",
        "incorrect_type": "Send a user id (a number) or null.",
    }

    def get_queryset(self):
        business = self.context["business"]
        return User.objects.filter(memberships__business=business)


class ConversationUpdateSerializer(serializers.Serializer):
    """PATCH /conversations/{id}/. Every field is optional; what is sent is applied in one transaction (all or
    nothing). `booked_value` and `lost_reason`/`lost_note` go with status booked and lost; sending one of them
    alone implies that status."""

    status = serializers.ChoiceField(
        ["open", "waiting", "closed", "booked", "lost"],
        required=False,
        help_text="open, waiting (on the caller) or closed; booked and lost record the outcome.",
    )
    assignee = MemberField(required=False, allow_null=True, help_text="A member's user id, or null for nobody.")
    booked_value = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=0,
        max_value=MAX_BOOKED_VALUE,
        required=False,
        allow_null=True,
        help_text="The booked job's value in dollars (with status booked).",
    )
    lost_reason = serializers.ChoiceField(Conversation.LostReason.choices, required=False)
    lost_note = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, attrs: dict) -> dict:
        status = attrs.get("status")
        if "booked_value" in attrs:
            status = status or "booked"
            if status != "booked":
                raise serializers.ValidationError({"booked_value": ["Send booked_value with status booked."]})
        if "lost_reason" in attrs or "lost_note" in attrs:
            status = status or "lost"
            if status != "lost":
                raise serializers.ValidationError({"lost_reason": ["Send lost_reason with status lost."]})
        if status == "lost" and "lost_reason" not in attrs:
            raise serializers.ValidationError({"lost_reason": ["Say why the lead was lost."]})
        if status:
            attrs["status"] = status
        if not attrs:
            raise serializers.ValidationError("Send at least one of status, assignee, booked_value, lost_reason.")
        return attrs
