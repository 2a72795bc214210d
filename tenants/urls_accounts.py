"""Public account pages under /accounts/."""

from django.contrib.auth import views as auth_views
from django.urls import path

from tenants import views_accounts

urlpatterns = [
    path("signup/", views_accounts.signup_view, name="signup"),
    path("login/", views_accounts.login_view, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views_accounts.password_reset_view, name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="registration/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(template_name="registration/password_reset_confirm.html"),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("invite/<str:token>/", views_accounts.invitation_accept_view, name="invitation_accept"),
]
