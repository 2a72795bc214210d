"""Tenant resolution: the one place that turns `/app/<business_slug>/...` into `request.business`."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404

from tenants.models import Membership


class TenantMiddleware:
    """Sets `request.business` and `request.membership` for every view routed with a `business_slug` kwarg.

    Anonymous users are sent to the login page; a user who is not a member of that business (or the business
    does not exist, or is deactivated) gets the same 404, so the response never hints that a slug exists.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        assert hasattr(request, "user"), "TenantMiddleware must come after AuthenticationMiddleware"
        request.business = None
        request.membership = None
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        slug = view_kwargs.get("business_slug")
        if slug is None:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        membership = (
            Membership.objects.select_related("business")
            .filter(user=request.user, business__slug=slug, business__is_active=True)
            .first()
        )
        if membership is None:
            raise Http404("No such business.")
        request.business = membership.business
        request.membership = membership
        return None
