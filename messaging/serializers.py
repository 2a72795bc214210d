"""REST API representations of text messages, and the reply a client may send."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inbox.models import Conversation
from inbox.services import REPLY_MAX_CHARS
from messaging.models import Message


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "kind",
            "from_number",
            "to_number",
            "body",
            "status",
            "error_code",
            "error_message",
            "segments",
            "trigger",
            "sent_by",
            "created_at",
            "sent_at",
            "delivered_at",
            "failed_at",
        ]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class BusinessConversationField(serializers.PrimaryKeyRelatedField):
    """A conversation id of the key's business; another business's id is refused like one that does not exist."""

    default_error_messages = {
        "does_not_exist": "There is no conversation {pk_value} in this business.",
        "incorrect_type": "Send a conversation id (a number).",
    }

    def get_queryset(self):
        return Conversation.objects.filter(business=self.context["business"])


class ReplySerializer(serializers.Serializer):
    """POST /messages/: text the caller in `conversation` from the business number they called."""

    conversation = BusinessConversationField()
    # the service strips and checks the body again (line endings, NUL bytes); this only bounds what we read
    body = serializers.CharField(max_length=REPLY_MAX_CHARS * 2, trim_whitespace=False)
