from tenants.models import Membership


def tenant(request):
    """The current business and the user's other businesses (for the switcher)."""
    business = getattr(request, "business", None)
    membership = getattr(request, "membership", None)
    memberships = []
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        memberships = list(
            Membership.objects.filter(user=request.user).select_related("business").order_by("business__name")
        )
    return {
        "business": business,
        "membership": membership,
        "my_memberships": memberships,
        "is_manager": bool(membership and membership.is_manager),
    }
