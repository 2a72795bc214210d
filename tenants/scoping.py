"""The one scoped base for querysets and forms: nothing of another business leaks into a view or a choice list."""

from django import forms
from django.db import models
from django.http import Http404

from tenants.models import Business, User
from tenants.permissions import RoleRequiredMixin


def scope_queryset(queryset: models.QuerySet, business: Business) -> models.QuerySet:
    """Filter any queryset down to `business`: tenant-owned models by their `business` column, users by
    membership. Raises for models with no notion of tenancy, so a new choice field cannot silently leak."""
    model = queryset.model
    if model is Business:
        return queryset.filter(pk=business.pk)
    if issubclass(model, User):
        return queryset.filter(memberships__business=business).distinct()
    if any(f.name == "business" for f in model._meta.get_fields()):
        return queryset.filter(business=business)
    raise TypeError(f"{model.__name__} has no business scope; scope it explicitly.")


class BusinessScopedMixin(RoleRequiredMixin):
    """For class-based views under /app/<business_slug>/: querysets filtered by the request's business,
    objects of another business are 404, forms get the business (and scope their choices)."""

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.business)

    def get_object(self, queryset=None):
        try:
            return super().get_object(queryset)
        except Http404:
            raise Http404("Not found.") from None

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["business"] = self.request.business
        return kwargs


class BusinessScopedFormMixin:
    """A form that takes `business=` and narrows every model choice field to that business."""

    def __init__(self, *args, business: Business, **kwargs):
        self.business = business
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.ModelChoiceField):
                field.queryset = scope_queryset(field.queryset, business)


class BusinessScopedModelForm(BusinessScopedFormMixin, forms.ModelForm):
    """ModelForm whose instance is saved into the form's business."""

    def save(self, commit: bool = True):
        if hasattr(self.instance, "business_id") and not self.instance.business_id:
            self.instance.business = self.business
        return super().save(commit=commit)
