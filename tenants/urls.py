from django.urls import include, path

from tenants import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("settings/", views.settings_home, name="settings"),
    path("settings/team/", include("tenants.urls_team")),
]
