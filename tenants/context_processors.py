from django.utils.functional import SimpleLazyObject

from tenants.models import Membership
from tenants.selectors import has_simulator_number


def tenant(request):
    """The current business, the user's role in it and their other businesses (for the switcher).

    `has_simulator_number` (for the owners' Simulator link) is lazy and owners only: pages outside a business,
    pages of other roles and partials that never show the link run no query for it."""
    business = getattr(request, "business", None)
    membership = getattr(request, "membership", None)
    memberships = []
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        memberships = list(
            Membership.objects.filter(user=request.user).select_related("business").order_by("business__name")
        )
    is_owner = bool(business is not None and membership and membership.role == Membership.Role.OWNER)
    return {
        "business": business,
        "membership": membership,
        "my_memberships": memberships,
        "is_manager": bool(membership and membership.is_manager),
        "is_owner": is_owner,
        "has_simulator_number": (
            SimpleLazyObject(lambda: has_simulator_number(business=business)) if is_owner else False
        ),
    }
