"""The team page under /app/<business_slug>/settings/team/: members, invitations, roles.

Owners and admins manage the team (operators get 403 from `role_required`); every member may leave. Actions are
POST-redirect-GET with a flash message. A rule the service refuses (last owner, an admin touching an owner,
a stale page) comes back as an error message on the team page rather than an error page.
"""

import smtplib
from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from tenants import services
from tenants.forms_accounts import InvitationForm, RoleForm
from tenants.models import Invitation, Membership
from tenants.permissions import EVERYONE, MANAGERS, role_required
from tenants.scoping import scope_queryset

# What a failed email delivery surfaces as: SMTP errors, refused or dropped connections.
EMAIL_ERRORS = (smtplib.SMTPException, OSError)


def _members(business):
    rank = Case(
        When(role=Membership.Role.OWNER, then=Value(0)),
        When(role=Membership.Role.ADMIN, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        scope_queryset(Membership.objects.select_related("user"), business)
        .annotate(rank=rank)
        .order_by("rank", "user__full_name", "user__email")
    )


def _open_invitations(business):
    """Invitations nobody used or revoked yet; expired ones stay listed so they can be resent."""
    return (
        scope_queryset(Invitation.objects.select_related("invited_by"), business)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .order_by("-created_at")
    )


def _messages_for(exc: ValidationError | PermissionDenied) -> list[str]:
    if isinstance(exc, ValidationError):
        return exc.messages
    return [str(exc) or "Your role does not allow this."]


def _send_invitation(request, email: str, send: Callable[[], object]) -> None:
    """Run an invite or resend service call and say how it went. The email goes out when the service's
    transaction commits; if delivery fails the invitation is saved all the same, so say so and offer Resend."""
    try:
        send()
    except EMAIL_ERRORS:
        messages.error(
            request,
            f"The invitation for {email} is saved, but the email could not be sent. "
            "Check the email settings and use Resend.",
        )
        return
    messages.success(request, f"Invitation sent to {email}.")


@role_required(*MANAGERS)
def team(request, business_slug: str):
    """List members and open invitations; POST invites someone."""
    acting = request.membership
    form = InvitationForm(request.POST or None, acting=acting)
    if request.method == "POST" and form.is_valid():
        email, role = form.cleaned_data["email"], form.cleaned_data["role"]
        try:
            _send_invitation(
                request,
                services.normalize_email(email),
                lambda: services.invitation_create(
                    business=request.business, email=email, role=role, invited_by=request.user
                ),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except PermissionDenied as exc:
            form.add_error("role", str(exc))
        else:
            return redirect("team", business_slug=business_slug)

    members = list(_members(request.business))
    for member in members:
        member.is_me = member.pk == acting.pk
        member.can_manage = not member.is_me and services.may_manage_member(acting=acting, target=member)
        if member.can_manage:
            member.role_form = RoleForm(acting=acting, initial={"role": member.role}, prefix=f"m{member.pk}")
    invitations = list(_open_invitations(request.business))
    now = timezone.now()
    for invitation in invitations:
        invitation.is_expired = invitation.expires_at <= now
        invitation.can_manage = services.may_assign_role(acting=acting, role=invitation.role)
    return render(
        request,
        "tenants/team.html",
        {"members": members, "invitations": invitations, "form": form, "acting": acting},
    )


@role_required(*MANAGERS)
@require_POST
def invitation_revoke(request, business_slug: str, pk: int):
    invitation = get_object_or_404(scope_queryset(Invitation.objects.all(), request.business), pk=pk)
    try:
        services.invitation_revoke(invitation=invitation, acting=request.membership)
    except PermissionDenied as exc:
        messages.error(request, _messages_for(exc)[0])
    else:
        messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("team", business_slug=business_slug)


@role_required(*MANAGERS)
@require_POST
def invitation_resend(request, business_slug: str, pk: int):
    invitation = get_object_or_404(scope_queryset(Invitation.objects.all(), request.business), pk=pk)
    try:
        _send_invitation(
            request,
            invitation.email,
            lambda: services.invitation_resend(invitation=invitation, acting_user=request.user),
        )
    except (ValidationError, PermissionDenied) as exc:
        for message in _messages_for(exc):
            messages.error(request, message)
    return redirect("team", business_slug=business_slug)


@role_required(*MANAGERS)
@require_POST
def member_role(request, business_slug: str, pk: int):
    membership = get_object_or_404(scope_queryset(Membership.objects.select_related("user"), request.business), pk=pk)
    form = RoleForm(request.POST, acting=request.membership, prefix=f"m{membership.pk}")
    if not form.is_valid():
        messages.error(request, f"Choose a role you can give to {membership.user.display_name}.")
        return redirect("team", business_slug=business_slug)
    try:
        updated = services.membership_change_role(
            membership=membership, role=form.cleaned_data["role"], acting=request.membership
        )
    except (ValidationError, PermissionDenied) as exc:
        for message in _messages_for(exc):
            messages.error(request, message)
    else:
        messages.success(request, f"{updated.user.display_name} is now {updated.get_role_display().lower()}.")
    return redirect("team", business_slug=business_slug)


@role_required(*MANAGERS)
@require_POST
def member_remove(request, business_slug: str, pk: int):
    membership = get_object_or_404(scope_queryset(Membership.objects.select_related("user"), request.business), pk=pk)
    if membership.pk == request.membership.pk:
        return leave(request, business_slug=business_slug)
    try:
        services.membership_remove(membership=membership, acting=request.membership)
    except (ValidationError, PermissionDenied) as exc:
        for message in _messages_for(exc):
            messages.error(request, message)
    else:
        messages.success(request, f"{membership.user.display_name} was removed from {request.business.name}.")
    return redirect("team", business_slug=business_slug)


@role_required(*EVERYONE)
def leave(request, business_slug: str):
    """Any member may leave (GET asks to confirm, POST leaves), except the last owner."""
    if request.method != "POST":
        return render(request, "tenants/team_leave.html")
    try:
        services.membership_remove(membership=request.membership, acting=request.membership)
    except (ValidationError, PermissionDenied) as exc:
        for message in _messages_for(exc):
            messages.error(request, message)
        return redirect("team" if request.membership.is_manager else "dashboard", business_slug=business_slug)
    messages.success(request, f"You left {request.business.name}.")
    return redirect("home")
