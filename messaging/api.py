"""/api/v1/messages/: the texts in the business's caller threads (list, filter by conversation), and sending a
reply. A reply goes through inbox.services.message_reply, the same path as the inbox composer: the opt-out check
under the contact's lock, the 1600-character limit, the audit entry, and the worker's suppression re-check before
it reaches the carrier. The reply is sent as the key's creator (see inbox/api.py)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from inbox.services import message_reply
from messaging.models import Message
from messaging.serializers import MessageSerializer, ReplySerializer
from secdesk.rest import BusinessViewSet, created_filters, id_filter, list_filter

MessageFilter = list_filter(
    "MessageFilter",
    conversation=(id_filter("Only this conversation's messages."), "conversation_id"),
    direction=(serializers.ChoiceField(Message.Direction.choices, required=False), "direction"),
    status=(serializers.ChoiceField(Message.Status.choices, required=False), "status"),
    **created_filters(),
)


@extend_schema_view(
    list=extend_schema(parameters=[MessageFilter]),
    create=extend_schema(request=ReplySerializer, responses={201: MessageSerializer}),
)
class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BusinessViewSet):
    serializer_class = MessageSerializer
    filter_class = MessageFilter

    def scoped_queryset(self, business):
        # caller threads only: alerts texted to team members' own phones are internal
        return Message.objects.filter(business=business, conversation__isnull=False)

    def create(self, request):
        reply = ReplySerializer(data=request.data, context={"business": self.business})
        reply.is_valid(raise_exception=True)
        message = message_reply(
            conversation=reply.validated_data["conversation"],
            body=reply.validated_data["body"],
            user=request.auth.created_by,
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
