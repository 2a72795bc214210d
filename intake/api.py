"""/api/v1/intake-submissions/: what callers filled in on the intake page, newest first."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from intake.models import IntakeSubmission
from intake.serializers import IntakeSubmissionSerializer
from secdesk.rest import BusinessViewSet, created_filters, id_filter, list_filter

IntakeSubmissionFilter = list_filter(
    "IntakeSubmissionFilter",
    conversation=(id_filter("Only this conversation's submissions."), "conversation_id"),
    urgency=(serializers.ChoiceField(IntakeSubmission.Urgency.choices, required=False), "urgency"),
    **created_filters(),
    **created_filters("updated_at", "updated"),
)


@extend_schema_view(list=extend_schema(parameters=[IntakeSubmissionFilter]))
class IntakeSubmissionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BusinessViewSet):
    serializer_class = IntakeSubmissionSerializer
    filter_class = IntakeSubmissionFilter

    def scoped_queryset(self, business):
        return IntakeSubmission.objects.filter(business=business)
