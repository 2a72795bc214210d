"""Small ORM helpers."""

from django.db import models


def preloaded(instance: models.Model, path: str):
    """What `instance` already holds at `path` (e.g. "business.routing_settings"), each step loaded before with
    select_related or set by hand, without a query: the related row, or None where a one-to-one has no row.
    Returns ... (Ellipsis) when some step was not loaded, so the caller reads it its own way. Hot paths use it to
    reuse settings that came with a cached business instead of asking again."""
    for name in path.split("."):
        descriptor = getattr(type(instance), name)
        if not descriptor.is_cached(instance):
            return ...
        holder = descriptor.related if hasattr(descriptor, "related") else descriptor.field
        instance = holder.get_cached_value(instance)
        if instance is None:
            return None
    return instance
