"""Team management, included at /app/<business_slug>/settings/team/."""

from django.urls import path

from tenants import views_team

urlpatterns = [
    path("", views_team.team, name="team"),
    path("invitations/<int:pk>/revoke/", views_team.invitation_revoke, name="team_invitation_revoke"),
    path("invitations/<int:pk>/resend/", views_team.invitation_resend, name="team_invitation_resend"),
    path("members/<int:pk>/role/", views_team.member_role, name="team_member_role"),
    path("members/<int:pk>/remove/", views_team.member_remove, name="team_member_remove"),
    path("leave/", views_team.leave, name="team_leave"),
]
