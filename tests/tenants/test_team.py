"""The team page: members, invitations, roles, removal and leaving; every URL guarded per tenant and role."""

import datetime as dt
import re
import threading

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from tenants import services
from tenants.models import Invitation, Membership
from tests.factories import InvitationFactory, MembershipFactory, UserFactory
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

MANAGERS = ("owner", "admin")
EVERYONE = ("owner", "admin", "operator")


def team_url(slug: str = "acme", suffix: str = "") -> str:
    return f"/app/{slug}/settings/team/{suffix}"


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def membership(tenant, role: str) -> Membership:
    return Membership.objects.get(business=tenant.business, user=tenant.user(role))


# --- guards --------------------------------------------------------------------------------------------------


def test_team_page_is_for_owners_and_admins(tenant_a, tenant_b, client_for):
    assert_guarded(client_for, team_url(), own=tenant_a, other=tenant_b, allowed_roles=MANAGERS)


def test_inviting_is_for_owners_and_admins(tenant_a, tenant_b, client_for):
    data = {"email": "new@example.test", "role": "operator"}
    assert_guarded(
        client_for, team_url(), own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method="post", data=data
    )
    assert Invitation.objects.filter(business=tenant_a.business, email="new@example.test").count() == 2  # owner, admin
    assert not Invitation.objects.filter(business=tenant_b.business).exists()


def test_invitation_actions_are_guarded(tenant_a, tenant_b, client_for):
    invitation = InvitationFactory(business=tenant_a.business, email="sam@example.test")
    for action in ("revoke", "resend"):
        url = team_url(suffix=f"invitations/{invitation.pk}/{action}/")
        assert_guarded(client_for, url, own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method="post")


def test_member_actions_are_guarded(tenant_a, tenant_b, client_for):
    # Aimed at the only owner, so whoever is allowed through is refused by a rule and nothing changes.
    owner = membership(tenant_a, "owner")
    role_url = team_url(suffix=f"members/{owner.pk}/role/")
    data = {f"m{owner.pk}-role": "operator"}
    assert_guarded(client_for, role_url, own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method="post", data=data)
    remove_url = team_url(suffix=f"members/{owner.pk}/remove/")
    assert_guarded(client_for, remove_url, own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method="post")
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_leave_is_for_every_member(tenant_a, tenant_b, client_for):
    assert_guarded(client_for, team_url(suffix="leave/"), own=tenant_a, other=tenant_b, allowed_roles=EVERYONE)
    assert_guarded(
        client_for, team_url(suffix="leave/"), own=tenant_a, other=tenant_b, allowed_roles=EVERYONE, method="post"
    )
    # the admin and operator left; the only owner could not
    assert list(Membership.objects.filter(business=tenant_a.business).values_list("role", flat=True)) == ["owner"]
    assert Membership.objects.filter(business=tenant_b.business).count() == 3


@pytest.mark.parametrize("action", ["role", "remove"])
def test_another_business_member_ids_are_404(tenant_a, tenant_b, client_for, action):
    foreign = membership(tenant_b, "operator")
    response = client_for(tenant_a.owner).post(
        team_url(suffix=f"members/{foreign.pk}/{action}/"), {f"m{foreign.pk}-role": "admin"}
    )
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == "operator"


@pytest.mark.parametrize("action", ["revoke", "resend"])
def test_another_business_invitation_ids_are_404(tenant_a, tenant_b, client_for, action):
    foreign = InvitationFactory(business=tenant_b.business)
    response = client_for(tenant_a.owner).post(team_url(suffix=f"invitations/{foreign.pk}/{action}/"))
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None
    assert Invitation.objects.filter(business=tenant_b.business).count() == 1


# --- the page ------------------------------------------------------------------------------------------------


def test_team_page_lists_members_and_pending_invitations_of_this_business_only(tenant_a, tenant_b, client_for):
    InvitationFactory(business=tenant_a.business, email="pending@example.test", invited_by=tenant_a.owner)
    InvitationFactory(
        business=tenant_a.business, email="expired@example.test", expires_at=timezone.now() - dt.timedelta(days=1)
    )
    InvitationFactory(business=tenant_a.business, email="used@example.test", accepted_at=timezone.now())
    InvitationFactory(business=tenant_a.business, email="revoked@example.test", revoked_at=timezone.now())
    InvitationFactory(business=tenant_b.business, email="bolt-invitee@example.test")

    response = client_for(tenant_a.owner).get(team_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert [m.user.email for m in response.context["members"]] == [
        "owner@acme.test",
        "admin@acme.test",
        "operator@acme.test",
    ]
    for user in (tenant_a.owner, tenant_a.admin, tenant_a.operator):
        assert user.email in html and user.full_name in html
    assert "Owner" in html and "Admin" in html and "Operator" in html
    assert "pending@example.test" in html and "expired@example.test" in html and "Expired" in html
    assert "used@example.test" not in html and "revoked@example.test" not in html
    assert "@bolt.test" not in html and "bolt-invitee" not in html
    assert html.count("csrfmiddlewaretoken") >= 6  # every action form carries its token


def test_form_choices_never_list_another_business_or_a_higher_role(tenant_a, tenant_b, client_for):
    MembershipFactory(business=tenant_b.business, user=UserFactory(email="stranger@bolt.test"), role="operator")
    response = client_for(tenant_a.admin).get(team_url())
    members = response.context["members"]
    assert {m.business_id for m in members} == {tenant_a.business.pk}
    assert all(m.user.email.endswith("@acme.test") for m in members)
    # admin: may manage the operator only (not the owner, not themselves), with roles up to admin
    manageable = [m for m in members if m.can_manage]
    assert [m.user for m in manageable] == [tenant_a.operator]
    assert [v for v, _ in manageable[0].role_form.fields["role"].choices] == ["admin", "operator"]
    assert [v for v, _ in response.context["form"].fields["role"].choices] == ["admin", "operator"]
    owner_view = client_for(tenant_a.owner).get(team_url()).context
    assert [v for v, _ in owner_view["form"].fields["role"].choices] == ["owner", "admin", "operator"]


# --- inviting ------------------------------------------------------------------------------------------------


def test_invite_stores_a_hash_and_emails_the_link_on_commit(
    tenant_a, client_for, settings, django_capture_on_commit_callbacks
):
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    client = client_for(tenant_a.admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(team_url(), {"email": "New.Tech@Example.test", "role": "operator"})
    assert response["Location"] == team_url()
    assert mail.outbox == []  # nothing is sent before the transaction commits
    invitation = Invitation.objects.get(business=tenant_a.business)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "new.tech@example.test",
        "operator",
        tenant_a.admin,
    )
    assert invitation.is_pending

    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.tech@example.test"]
    token = re.search(r"https://desk\.example\.com/accounts/invite/([\w-]+)/", message.body).group(1)
    assert Invitation.hash_token(token) == invitation.token_hash
    assert "Acme Plumbing" in message.body and "operator" in message.body

    page = client.get(team_url())
    assert "Invitation sent to new.tech@example.test." in [str(m) for m in page.context["messages"]]


def test_admin_cannot_invite_an_owner(tenant_a, client_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(tenant_a.admin).post(team_url(), {"email": "boss@example.test", "role": "owner"})
    assert response.status_code == 200
    assert "role" in response.context["form"].errors
    assert not Invitation.objects.exists()
    assert mail.outbox == []
    with pytest.raises(services.PermissionDenied):
        services.invitation_create(
            business=tenant_a.business, email="boss@example.test", role="owner", invited_by=tenant_a.admin
        )


def test_owner_can_invite_an_owner(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(team_url(), {"email": "partner@example.test", "role": "owner"})
    assert response.status_code == 302
    assert Invitation.objects.get().role == "owner"


def test_operator_of_the_business_cannot_invite_through_the_service(tenant_a, tenant_b):
    for outsider in (tenant_a.operator, tenant_b.owner):
        with pytest.raises(services.PermissionDenied):
            services.invitation_create(
                business=tenant_a.business, email="x@example.test", role="operator", invited_by=outsider
            )
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_is_a_form_error(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(team_url(), {"email": "OPERATOR@acme.test", "role": "admin"})
    assert response.status_code == 200
    assert "already a member" in response.context["form"].errors["email"][0]  # next to the email field
    assert "already a member" in response.content.decode()
    assert not Invitation.objects.exists()


def test_inviting_a_member_of_another_business_is_fine(tenant_a, tenant_b, client_for):
    response = client_for(tenant_a.owner).post(team_url(), {"email": "owner@bolt.test", "role": "operator"})
    assert response.status_code == 302
    assert Invitation.objects.get().business == tenant_a.business


def test_invalid_invite_input_shows_field_errors(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(team_url(), {"email": "nope", "role": "captain"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"email", "role"}
    assert not Invitation.objects.exists()


def test_reinviting_a_pending_email_replaces_the_old_invitation(
    tenant_a, client_for, django_capture_on_commit_callbacks
):
    client = client_for(tenant_a.owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(team_url(), {"email": "sam@example.test", "role": "operator"})
        client.post(team_url(), {"email": "SAM@example.test", "role": "admin"})
    old, new = Invitation.objects.order_by("created_at", "pk")
    assert old.revoked_at is not None and not old.is_pending
    assert new.is_pending and new.role == "admin"
    tokens = [re.search(r"/accounts/invite/([\w-]+)/", m.body).group(1) for m in mail.outbox]
    assert len(tokens) == 2
    assert client.get(f"/accounts/invite/{tokens[0]}/").status_code == 404
    assert services.invitation_get_by_token(tokens[1]) == new


@pytest.mark.django_db(transaction=True)
def test_failed_email_keeps_the_invitation_and_says_so(tenant_a, client_for, monkeypatch):
    def broken_send_mail(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(services, "send_mail", broken_send_mail)
    response = client_for(tenant_a.owner).post(
        team_url(), {"email": "sam@example.test", "role": "operator"}, follow=True
    )
    assert response.status_code == 200
    assert any("could not be sent" in m for m in flash(response))
    assert Invitation.objects.get().is_pending  # saved: Resend can try again

    monkeypatch.undo()
    invitation = Invitation.objects.get()
    response = client_for(tenant_a.owner).post(team_url(suffix=f"invitations/{invitation.pk}/resend/"), follow=True)
    assert "Invitation sent to sam@example.test." in flash(response)
    assert len(mail.outbox) == 1
    assert Invitation.objects.filter(revoked_at__isnull=True).count() == 1


# --- revoke and resend ---------------------------------------------------------------------------------------


def test_revoke_stops_the_link(tenant_a, client_for):
    invitation, token = InvitationFactory.with_token(business=tenant_a.business, email="sam@example.test")
    response = client_for(tenant_a.admin).post(team_url(suffix=f"invitations/{invitation.pk}/revoke/"), follow=True)
    assert "Invitation for sam@example.test revoked." in flash(response)
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert client_for(None).get(f"/accounts/invite/{token}/").status_code == 404
    assert client_for(tenant_a.admin).get(team_url(suffix=f"invitations/{invitation.pk}/revoke/")).status_code == 405


def test_admin_cannot_revoke_an_owner_invitation(tenant_a, client_for):
    invitation = InvitationFactory(business=tenant_a.business, role="owner")
    response = client_for(tenant_a.admin).post(team_url(suffix=f"invitations/{invitation.pk}/revoke/"), follow=True)
    assert any("does not allow" in m for m in flash(response))
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_resend_sends_a_new_link_and_kills_the_old_one(tenant_a, client_for, django_capture_on_commit_callbacks):
    invitation, old_token = InvitationFactory.with_token(
        business=tenant_a.business, email="sam@example.test", expires_at=timezone.now() - dt.timedelta(days=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        client_for(tenant_a.owner).post(team_url(suffix=f"invitations/{invitation.pk}/resend/"))
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    fresh = Invitation.objects.get(revoked_at__isnull=True)
    assert fresh.is_pending and fresh.email == "sam@example.test" and fresh.role == invitation.role
    new_token = re.search(r"/accounts/invite/([\w-]+)/", mail.outbox[0].body).group(1)
    assert new_token != old_token and Invitation.hash_token(new_token) == fresh.token_hash


def test_resending_a_revoked_invitation_is_refused(tenant_a, client_for):
    invitation = InvitationFactory(business=tenant_a.business, revoked_at=timezone.now())
    response = client_for(tenant_a.owner).post(team_url(suffix=f"invitations/{invitation.pk}/resend/"), follow=True)
    assert any("already used or revoked" in m for m in flash(response))
    assert Invitation.objects.count() == 1


# --- roles ---------------------------------------------------------------------------------------------------


def change_role(client, target: Membership, role: str):
    return client.post(team_url(suffix=f"members/{target.pk}/role/"), {f"m{target.pk}-role": role}, follow=True)


@pytest.mark.parametrize("acting", ["owner", "admin"])
def test_managers_promote_and_demote_between_operator_and_admin(tenant_a, client_for, acting):
    target = membership(tenant_a, "operator")
    response = change_role(client_for(tenant_a.user(acting)), target, "admin")
    target.refresh_from_db()
    assert target.role == "admin"
    assert any("is now admin" in m for m in flash(response))
    change_role(client_for(tenant_a.user(acting)), target, "operator")
    target.refresh_from_db()
    assert target.role == "operator"


def test_admin_cannot_make_an_owner(tenant_a, client_for):
    target = membership(tenant_a, "operator")
    response = change_role(client_for(tenant_a.admin), target, "owner")
    target.refresh_from_db()
    assert target.role == "operator"
    assert any("Choose a role" in m for m in flash(response))
    with pytest.raises(services.PermissionDenied):
        services.membership_change_role(membership=target, role="owner", acting=membership(tenant_a, "admin"))


def test_admin_cannot_demote_an_owner(tenant_a, client_for):
    second_owner = MembershipFactory(business=tenant_a.business, role="owner")
    response = change_role(client_for(tenant_a.admin), second_owner, "admin")
    second_owner.refresh_from_db()
    assert second_owner.role == "owner"
    assert any("does not allow" in m for m in flash(response))


def test_owner_makes_and_unmakes_owners(tenant_a, client_for):
    target = membership(tenant_a, "admin")
    change_role(client_for(tenant_a.owner), target, "owner")
    target.refresh_from_db()
    assert target.role == "owner"
    # with two owners, either may demote the other
    change_role(client_for(tenant_a.admin), membership(tenant_a, "owner"), "operator")
    assert membership(tenant_a, "owner").role == "operator"


def test_last_owner_cannot_be_demoted(tenant_a, client_for):
    owner = membership(tenant_a, "owner")
    response = change_role(client_for(tenant_a.owner), owner, "admin")
    owner.refresh_from_db()
    assert owner.role == "owner"
    assert any("only owner" in m for m in flash(response))
    with pytest.raises(services.ValidationError, match="only owner"):
        services.membership_change_role(membership=owner, role="operator", acting=owner)


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(tenant_a):
    first = membership(tenant_a, "owner")
    second = MembershipFactory(business=tenant_a.business, role="owner")
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(target, acting):
        try:
            barrier.wait(timeout=5)
            services.membership_change_role(membership=target, role="admin", acting=acting)
            outcomes.append("ok")
        except (services.ValidationError, services.PermissionDenied):
            # whichever runs second finds the other already demoted (no longer an owner) or itself the last owner
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(outcomes) == ["ok", "refused"]
    assert Membership.objects.filter(business=tenant_a.business, role="owner").count() == 1


# --- removing and leaving ------------------------------------------------------------------------------------


@pytest.mark.parametrize("acting", ["owner", "admin"])
def test_managers_remove_an_operator(tenant_a, client_for, acting):
    target = membership(tenant_a, "operator")
    response = client_for(tenant_a.user(acting)).post(team_url(suffix=f"members/{target.pk}/remove/"), follow=True)
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert any("was removed" in m for m in flash(response))
    assert client_for(tenant_a.operator).get("/app/acme/").status_code == 404  # access is gone at once


def test_admin_cannot_remove_an_owner(tenant_a, client_for):
    second_owner = MembershipFactory(business=tenant_a.business, role="owner")
    client_for(tenant_a.admin).post(team_url(suffix=f"members/{second_owner.pk}/remove/"))
    assert Membership.objects.filter(pk=second_owner.pk).exists()


def test_owner_removes_another_owner_but_never_the_last(tenant_a, client_for):
    second_owner = MembershipFactory(business=tenant_a.business, role="owner")
    client_for(tenant_a.owner).post(team_url(suffix=f"members/{second_owner.pk}/remove/"))
    assert not Membership.objects.filter(pk=second_owner.pk).exists()

    owner = membership(tenant_a, "owner")
    response = client_for(tenant_a.owner).post(team_url(suffix=f"members/{owner.pk}/remove/"), follow=True)
    assert Membership.objects.filter(pk=owner.pk).exists()
    assert any("only owner" in m for m in flash(response))
    with pytest.raises(services.ValidationError, match="only owner"):
        services.membership_remove(membership=owner, acting=owner)


def test_operator_leaves_from_the_confirm_page(tenant_a, client_for):
    client = client_for(tenant_a.operator)
    page = client.get(team_url(suffix="leave/"))
    assert page.status_code == 200 and "Leave Acme Plumbing?" in page.content.decode()
    response = client.post(team_url(suffix="leave/"))
    assert response["Location"] == "/app/"
    assert not Membership.objects.filter(business=tenant_a.business, user=tenant_a.operator).exists()
    assert client.get("/app/acme/").status_code == 404


def test_last_owner_cannot_leave(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(team_url(suffix="leave/"), follow=True)
    assert Membership.objects.filter(business=tenant_a.business, user=tenant_a.owner).exists()
    assert any("only owner" in m for m in flash(response))
    assert response.redirect_chain[-1][0] == team_url()


def test_leaving_one_business_keeps_the_other(tenant_a, tenant_b, client_for):
    MembershipFactory(business=tenant_b.business, user=tenant_a.admin, role="operator")
    client = client_for(tenant_a.admin)
    client.post(team_url(slug="bolt", suffix="leave/"))
    assert list(Membership.objects.filter(user=tenant_a.admin).values_list("business__slug", flat=True)) == ["acme"]
    assert client.get("/app/").url == "/app/acme/"
