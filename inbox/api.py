"""/api/v1/contacts/ and /api/v1/conversations/. Updates go through the same actions as the inbox
(inbox/actions.py), so they write the timeline event and audit entry, refresh open inbox pages and acknowledge a
running escalation exactly like an operator's click. The actor is the key's creator (the owner who issued the
key answers for what the integration does); it is None when that account was deleted, and then the change is
recorded as the system's and acknowledges nothing."""

from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.response import Response

from inbox import actions
from inbox.models import Contact, Conversation
from inbox.serializers import ContactSerializer, ConversationSerializer, ConversationUpdateSerializer
from secdesk.rest import BusinessViewSet, PhoneField, created_filters, id_filter, list_filter

ContactFilter = list_filter(
    "ContactFilter",
    phone=(PhoneField(required=False), "phone"),
    opted_out=(
        serializers.ChoiceField(["true", "false"], required=False),
        lambda queryset, value: queryset.filter(opted_out=value == "true"),
    ),
    **created_filters(),
)


@extend_schema_view(list=extend_schema(parameters=[ContactFilter]))
class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BusinessViewSet):
    serializer_class = ContactSerializer
    filter_class = ContactFilter

    def scoped_queryset(self, business):
        return Contact.objects.filter(business=business)


class AssigneeFilterField(serializers.CharField):
    """A user id, or "none" for unassigned conversations."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data).strip().lower()
        if text == "none":
            return text
        if not (text.isascii() and text.isdigit()) or len(text) > 12:
            raise serializers.ValidationError('Send a user id or "none".', code="invalid")
        return int(text)


def _by_assignee(queryset, value):
    return queryset.filter(assignee__isnull=True) if value == "none" else queryset.filter(assignee_id=value)


ConversationFilter = list_filter(
    "ConversationFilter",
    status=(serializers.ChoiceField(Conversation.Status.choices, required=False), "status"),
    priority=(serializers.ChoiceField(Conversation.Priority.choices, required=False), "priority"),
    assignee=(AssigneeFilterField(required=False, help_text='A user id, or "none" for unassigned.'), _by_assignee),
    contact=(id_filter("Only this contact's conversations."), "contact_id"),
    **created_filters(),
    **created_filters("last_activity_at", "updated"),
)


@extend_schema_view(
    list=extend_schema(parameters=[ConversationFilter]),
    partial_update=extend_schema(request=ConversationUpdateSerializer, responses=ConversationSerializer),
)
class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BusinessViewSet):
    serializer_class = ConversationSerializer
    filter_class = ConversationFilter
    http_method_names = ["get", "patch", "head", "options"]

    def scoped_queryset(self, business):
        return (
            Conversation.objects.filter(business=business)
            .select_related("contact", "phone_number")
            .prefetch_related("tags")
        )

    def partial_update(self, request, pk=None):
        conversation = self.get_object()
        update = ConversationUpdateSerializer(data=request.data, context={"business": self.business})
        update.is_valid(raise_exception=True)
        data = update.validated_data
        actor = request.auth.created_by
        with transaction.atomic():
            if "assignee" in data:
                conversation = actions.conversation_assign(
                    conversation=conversation, assignee=data["assignee"], actor=actor
                )
            status = data.get("status")
            if status == "booked":
                conversation = actions.conversation_book(
                    conversation=conversation, value=data.get("booked_value"), actor=actor
                )
            elif status == "lost":
                conversation = actions.conversation_lose(
                    conversation=conversation, reason=data["lost_reason"], note=data.get("lost_note", ""), actor=actor
                )
            elif status:
                conversation = actions.conversation_set_status(conversation=conversation, status=status, actor=actor)
        return Response(ConversationSerializer(self.get_queryset().get(pk=conversation.pk)).data)
