"""/api/v1/consent-events/: the consent ledger (opt-outs, opt-ins, consents), newest first."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from compliance.models import ConsentEvent
from compliance.serializers import ConsentEventSerializer
from secdesk.rest import BusinessViewSet, PhoneField, created_filters, list_filter

ConsentEventFilter = list_filter(
    "ConsentEventFilter",
    kind=(serializers.ChoiceField(ConsentEvent.Kind.choices, required=False), "kind"),
    phone=(PhoneField(required=False), "phone"),
    **created_filters(),
)


@extend_schema_view(list=extend_schema(parameters=[ConsentEventFilter]))
class ConsentEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BusinessViewSet):
    serializer_class = ConsentEventSerializer
    filter_class = ConsentEventFilter

    def scoped_queryset(self, business):
        return ConsentEvent.objects.filter(business=business)
