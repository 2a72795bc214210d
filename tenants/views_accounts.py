"""Public account pages: sign-up, login, password reset and accepting an invitation.

Every form that an attacker could hammer (login, sign-up, password reset) is rate-limited per IP, login also
per submitted email; a tripped limit answers with `settings.RATELIMIT_VIEW` (a 429 page).
"""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_ratelimit.decorators import ratelimit
from django_ratelimit.exceptions import Ratelimited

from tenants import services
from tenants.forms_accounts import EmailAuthenticationForm, InvitationSignupForm, NewBusinessForm, SignupForm
from tenants.models import Membership

AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"


def submitted_email(group: str, request) -> str:
    """Rate-limit key: the email typed into the login form, normalised so case games do not reset the count."""
    return services.normalize_email(request.POST.get("username", ""))


def rate_limited(*limits: tuple[str, str | Callable], group: str) -> Callable:
    """Apply django-ratelimit limits (each `(rate, key)`) to POSTs and answer a tripped limit with
    `settings.RATELIMIT_VIEW`, whether or not `RatelimitMiddleware` is installed (without it django-ratelimit's
    exception would become a plain 403)."""

    def decorator(view: Callable) -> Callable:
        limited = view
        for rate, key in limits:
            limited = ratelimit(group=group, key=key, rate=rate, method="POST", block=True)(limited)

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return limited(request, *args, **kwargs)
            except Ratelimited as exc:
                return import_string(settings.RATELIMIT_VIEW)(request, exc)

        return wrapped

    return decorator


def _start_session(request, membership: Membership) -> None:
    login(request, membership.user, backend=AUTH_BACKEND)


class LoginView(auth_views.LoginView):
    """Email + password. `next` is honoured only for our own host (Django's `url_has_allowed_host_and_scheme`)."""

    form_class = EmailAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


login_view = rate_limited(("5/m", "ip"), ("5/m", submitted_email), group="accounts.login")(LoginView.as_view())


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset flow; links in the email are built from PUBLIC_BASE_URL, not from the request's Host."""

    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        self.extra_email_context = {"base_url": settings.PUBLIC_BASE_URL}
        return super().form_valid(form)


password_reset_view = rate_limited(("10/h", "ip"), group="accounts.password_reset")(PasswordResetView.as_view())


@sensitive_post_parameters("password")
@never_cache
def signup(request):
    """Self-serve sign-up: account, business and owner membership in one go, then straight to the dashboard.

    A person who is already logged in gets the business half of the form and becomes owner of the new business.
    """
    existing_user = request.user if request.user.is_authenticated else None
    form_class = NewBusinessForm if existing_user else SignupForm
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if existing_user:
                membership = services.business_create(
                    name=data["business_name"], slug=data["slug"], timezone=data["timezone"], owner=existing_user
                )
            else:
                membership = services.business_signup(
                    name=data["business_name"],
                    slug=data["slug"],
                    timezone=data["timezone"],
                    email=data["email"],
                    password=data["password"],
                    full_name=data["full_name"],
                )
                _start_session(request, membership)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Welcome to SecondDesk. {membership.business.name} is ready.")
            return redirect("dashboard", business_slug=membership.business.slug)
    return render(request, "accounts/signup.html", {"form": form, "existing_user": existing_user})


signup_view = rate_limited(("10/h", "ip"), group="accounts.signup")(signup)


@sensitive_post_parameters("password")
@never_cache
def invitation_accept(request, token: str):
    """Accept an emailed invitation.

    The invitation belongs to the email it was sent to, so only the account with that email can accept it:
    a logged-in user with another email is told whose invitation it is and offered to log out (someone who
    was forwarded a link cannot use it to join). An anonymous visitor whose email already has an account is
    asked to log in (and comes back here); anyone else sets a name and password and the account is created
    with the membership. Nothing happens on GET, so link scanners in mail clients cannot accept for anyone.
    Unknown, expired, revoked and used links all get the same 404 page.
    """
    invitation = services.invitation_get_by_token(token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    context = {"invitation": invitation, "invited_business": invitation.business}
    user = request.user if request.user.is_authenticated else None

    if user is not None:
        if services.normalize_email(user.email) != invitation.email.lower():
            return render(request, "accounts/invitation_wrong_user.html", context)
        if request.method == "POST":
            try:
                membership = services.invitation_accept(invitation=invitation, user=user)
            except ValidationError:
                return render(request, "accounts/invitation_invalid.html", status=404)
            messages.success(request, f"You joined {membership.business.name}.")
            return redirect("dashboard", business_slug=membership.business.slug)
        context["already_member"] = Membership.objects.filter(business=invitation.business, user=user).exists()
        return render(request, "accounts/invitation_accept.html", context)

    if services.email_taken(invitation.email):
        context["login_url"] = f"{reverse('login')}?{urlencode({'next': request.path})}"
        return render(request, "accounts/invitation_login.html", context)

    form = InvitationSignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.invitation_signup(
                invitation=invitation, full_name=form.cleaned_data["full_name"], password=form.cleaned_data["password"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            _start_session(request, membership)
            messages.success(request, f"Welcome to {membership.business.name}.")
            return redirect("dashboard", business_slug=membership.business.slug)
    context["form"] = form
    return render(request, "accounts/invitation_signup.html", context)


invitation_accept_view = rate_limited(("30/h", "ip"), group="accounts.invitation")(invitation_accept)
