"""Shared REST API plumbing: the tenant-scoped base viewset, cursor pagination, list filters and the one error
body every failure uses:

    {"error": {"code": "opted_out", "message": "This number opted out ...", "fields": {"body": ["..."]}}}

`code` is stable and machine-readable, `message` is a sentence for a person, `fields` maps request fields to
their problems (empty when the error is not about a field)."""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.views import exception_handler as drf_exception_handler

from secdesk.phone import InvalidPhoneNumber, to_e164

NOT_FOUND = "Not found: there is no such object in this business."


def _messages(detail) -> list[str] | dict:
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        flat: list = []
        for item in detail:
            value = _messages(item)
            flat.extend(value if isinstance(value, list) else [value])
        return flat
    return [str(detail)]


def _first_code(detail, default: str) -> str:
    if isinstance(detail, list) and detail:
        return _first_code(detail[0], default)
    return getattr(detail, "code", None) or default


def exception_handler(exc, context):
    """DRF's handler, with Django's ValidationError (what services raise) as a 400 and every body in one shape.
    Anything DRF does not handle stays a 500 (logged), never dressed up as a client error."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=serializers.as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(NOT_FOUND)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    fields: dict = {}
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        general = detail.get("non_field_errors") or []
        fields = {key: _messages(value) for key, value in detail.items() if key != "non_field_errors"}
        code = _first_code(general, "invalid")
        message = str(general[0]) if general else "Some fields are not valid; see `fields`."
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else "The request was refused."
        if isinstance(exc, exceptions.NotFound) and exc.detail == exceptions.NotFound.default_detail:
            message = NOT_FOUND
    response.data = {"error": {"code": code, "message": message, "fields": fields}}
    return response


class Pagination(CursorPagination):
    """Newest first by id: ids only grow, so a cursor stays stable while rows are added or change status (an
    ordering on a changing column such as last activity would miss or repeat rows between pages)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class PhoneField(serializers.CharField):
    """A phone number in any common format, normalised to E.164 (the only form ever compared)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("help_text", "A phone number, e.g. +14155550100.")
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        try:
            return to_e164(super().to_internal_value(data))
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc), code="bad_phone") from None


def id_filter(help_text: str) -> serializers.IntegerField:
    """An id in a query parameter, bounded to what the column holds (a bigger number is a 400, not a database
    error)."""
    return serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text=help_text)


class ListFilter(serializers.Serializer):
    """Query parameters of a list endpoint, validated like a body (bad values get a 400, not an empty list or a
    500). Subclasses declare fields and map them in `lookups` to an ORM lookup, or to a function
    (queryset, value) -> queryset for anything a lookup cannot say."""

    lookups: dict[str, str | Callable] = {}

    def apply(self, queryset):
        for name, value in self.validated_data.items():
            if value is None or value == "":
                continue
            lookup = self.lookups[name]
            queryset = lookup(queryset, value) if callable(lookup) else queryset.filter(**{lookup: value})
        return queryset


def created_filters(field: str = "created_at", prefix: str = "created") -> dict:
    """`<prefix>_after` / `<prefix>_before` fields and their lookups, for a ListFilter subclass."""
    return {
        f"{prefix}_after": (
            serializers.DateTimeField(required=False, help_text=f"Only rows with {field} at or after this time."),
            f"{field}__gte",
        ),
        f"{prefix}_before": (
            serializers.DateTimeField(required=False, help_text=f"Only rows with {field} before this time."),
            f"{field}__lt",
        ),
    }


def list_filter(name: str, **spec) -> type[ListFilter]:
    """A ListFilter class from {param: (serializer field, ORM lookup)}."""
    attrs = {param: field for param, (field, _lookup) in spec.items()}
    attrs["lookups"] = {param: lookup for param, (_field, lookup) in spec.items()}
    return type(name, (ListFilter,), attrs)


class BusinessViewSet(viewsets.GenericViewSet):
    """Base of every API viewset: rows come only from the key's business (`scoped_queryset`), so another
    business's id is indistinguishable from one that does not exist (404), and lists never show its rows.
    List endpoints validate `filter_class` query parameters."""

    filter_class: type[ListFilter] | None = None
    pagination_class = Pagination

    def scoped_queryset(self, business):
        """The rows of `business` this resource serves; every viewset defines it (no default: a forgotten one
        must fail loudly rather than serve every business's rows)."""
        raise ImproperlyConfigured(f"{type(self).__name__} must define scoped_queryset(business)")

    @property
    def business(self):
        return self.request.auth.business

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no key
            return self.scoped_queryset(None).none()
        return self.scoped_queryset(self.business)

    def filter_queryset(self, queryset):
        if self.action == "list" and self.filter_class is not None:
            params = self.filter_class(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            queryset = params.apply(queryset)
        return queryset
