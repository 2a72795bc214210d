"""The REST API at /api/v1/: one router over every app's viewsets, the OpenAPI 3 schema and a docs page.

The docs page is rendered on the server from the same generated schema (operations, parameters, request fields),
with no JavaScript: Swagger UI and Redoc would otherwise load from a CDN, and vendoring them
(drf-spectacular-sidecar) adds megabytes of assets for a page integrators read once. Tools that want an
interactive console can load /api/v1/schema/ into their own."""

from django.shortcuts import render
from django.urls import include, path
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from compliance.api import ConsentEventViewSet
from inbox.api import ContactViewSet, ConversationViewSet
from intake.api import IntakeSubmissionViewSet
from integrations.api import WebhookEndpointViewSet
from messaging.api import MessageViewSet
from telephony.api import CallViewSet


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes the bearer key in the OpenAPI schema."""

    target_class = "tenants.api.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key created by an owner under Settings → API keys.",
        }


router = SimpleRouter(trailing_slash=True)
router.register("calls", CallViewSet, basename="api-call")
router.register("conversations", ConversationViewSet, basename="api-conversation")
router.register("messages", MessageViewSet, basename="api-message")
router.register("contacts", ContactViewSet, basename="api-contact")
router.register("intake-submissions", IntakeSubmissionViewSet, basename="api-intake-submission")
router.register("consent-events", ConsentEventViewSet, basename="api-consent-event")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="api-webhook-endpoint")

METHODS = ("get", "post", "patch", "put", "delete")


class SchemaView(SpectacularAPIView):
    """The schema is public (it describes the API, not a business's data): no key, no throttle."""

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()


def _schema_ref(schema: dict, ref: str) -> dict:
    node = schema
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def docs(request):
    """Server-rendered API reference from the generated schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for url, item in schema["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body and "$ref" in body:
                body = _schema_ref(schema, body["$ref"])
            operations.append(
                {
                    "method": method.upper(),
                    "url": url,
                    "id": operation.get("operationId", ""),
                    "description": operation.get("description", ""),
                    "parameters": operation.get("parameters", []),
                    "body": sorted((body or {}).get("properties", {}).items()),
                    "required": (body or {}).get("required", []),
                }
            )
    return render(request, "api/docs.html", {"operations": operations, "info": schema["info"]})


urlpatterns = [
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", docs, name="api-docs"),
    path("", include(router.urls)),
]
