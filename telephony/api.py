"""/api/v1/calls/: the business's calls, inbound and call backs, newest first."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from secdesk.rest import BusinessViewSet, created_filters, list_filter
from telephony.models import Call
from telephony.serializers import CallSerializer

CallFilter = list_filter(
    "CallFilter",
    status=(serializers.ChoiceField(Call.Status.choices, required=False), "status"),
    direction=(serializers.ChoiceField(Call.Direction.choices, required=False), "direction"),
    missed_reason=(serializers.ChoiceField(Call.MissedReason.choices, required=False), "missed_reason"),
    **created_filters("started_at", "started"),
)


@extend_schema_view(list=extend_schema(parameters=[CallFilter]))
class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BusinessViewSet):
    serializer_class = CallSerializer
    filter_class = CallFilter

    def scoped_queryset(self, business):
        return Call.objects.filter(business=business).select_related("phone_number")
