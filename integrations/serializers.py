"""REST API representation of webhook endpoints. The signing secret is returned once, when the endpoint is
created; never again."""

from rest_framework import serializers

from integrations.models import EVENT_NAMES, WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="display_url", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "kind", "url", "events", "active", "created_at"]
        read_only_fields = fields


class WebhookEndpointCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(WebhookEndpoint.Kind.choices, default=WebhookEndpoint.Kind.WEBHOOK)
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(child=serializers.ChoiceField(EVENT_NAMES), allow_empty=False, max_length=20)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret, shown only in this response.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields
