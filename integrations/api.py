"""/api/v1/webhook-endpoints/: the business's outbound webhook and Slack endpoints: list, create (the signing
secret comes back once), pause or resume, delete. Creating goes through the same service as the settings page, so
the same URL checks apply (http(s) only, public addresses only in production)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from integrations.models import WebhookEndpoint
from integrations.serializers import (
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
)
from integrations.services import endpoint_create, endpoint_delete, endpoint_set_active
from secdesk.rest import BusinessViewSet


class ActiveSerializer(serializers.Serializer):
    active = serializers.BooleanField()


def _as_drf(error: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, BusinessViewSet
):
    serializer_class = WebhookEndpointSerializer

    def scoped_queryset(self, business):
        return WebhookEndpoint.objects.filter(business=business).order_by("-id")

    @extend_schema(request=WebhookEndpointCreateSerializer, responses={201: WebhookEndpointCreatedSerializer})
    def create(self, request):
        data = WebhookEndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint, secret = endpoint_create(
                business=self.business, actor=request.auth.created_by, **data.validated_data
            )
        except DjangoValidationError as error:
            raise _as_drf(error) from None
        body = WebhookEndpointCreatedSerializer(endpoint).data | {"secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=ActiveSerializer, responses={200: WebhookEndpointSerializer})
    def partial_update(self, request, pk=None):
        data = ActiveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = endpoint_set_active(
            endpoint=self.get_object(), active=data.validated_data["active"], actor=request.auth.created_by
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    def perform_destroy(self, instance):
        endpoint_delete(endpoint=instance, actor=self.request.auth.created_by)
