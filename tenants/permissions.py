"""Role checks for views under /app/<business_slug>/ (tenant already resolved by TenantMiddleware)."""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404

from tenants.models import Membership

MANAGERS = (Membership.Role.OWNER, Membership.Role.ADMIN)
OWNERS = (Membership.Role.OWNER,)
EVERYONE = tuple(Membership.Role)


def role_required(*roles: str) -> Callable:
    """Allow only members with one of `roles`. Members with another role get 403 (they know the business
    exists); anything without a resolved tenant gets 404."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if getattr(request, "membership", None) is None:
                raise Http404("No such business.")
            if request.membership.role not in roles:
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = roles
        return wrapped

    return decorator


class RoleRequiredMixin:
    """Class-based form of `role_required`; set `allowed_roles` on the view."""

    allowed_roles: tuple[str, ...] = EVERYONE

    def dispatch(self, request, *args, **kwargs):
        if getattr(request, "membership", None) is None:
            raise Http404("No such business.")
        if request.membership.role not in self.allowed_roles:
            raise PermissionDenied("Your role does not allow this.")
        return super().dispatch(request, *args, **kwargs)
