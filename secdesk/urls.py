from django.contrib import admin
from django.urls import include, path
from django_ratelimit.decorators import ratelimit

from secdesk import metrics, views
from secdesk.media import media_urlpatterns

app_patterns = [
    path("", include("tenants.urls")),
    path("", include("telephony.urls")),
    path("", include("messaging.urls")),
    path("", include("compliance.urls")),
    path("", include("compliance.urls_privacy")),
    path("", include("intake.urls")),
    path("", include("inbox.urls")),
    path("", include("inbox.urls_reply")),
    path("", include("inbox.urls_member")),
    path("", include("inbox.urls_settings")),
    path("", include("inbox.urls_response")),
    path("", include("inbox.urls_actions")),
    path("", include("inbox.urls_call_back")),
    path("", include("inbox.urls_on_call")),
    path("", include("integrations.urls")),
]

# The staff login has the same brute-force limit as /accounts/login/.
admin.site.login = ratelimit(key="ip", rate="5/m", method="POST", block=True)(admin.site.login)

urlpatterns = [
    path("", views.root, name="root"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),  # Prometheus; off unless METRICS_TOKEN is set
    path("admin/", admin.site.urls),
    path("accounts/", include("tenants.urls_accounts")),
    path("app/", views.home, name="home"),
    path("app/<slug:business_slug>/", include(app_patterns)),
    path("webhooks/", include("telephony.urls_webhooks")),
    path("webhooks/", include("telephony.urls_call_back")),
    path("webhooks/", include("messaging.urls_webhooks")),
    path("api/v1/", include("secdesk.api")),
    path("i/", include("intake.urls_public")),
    # the link in an on-call page (a text to a member's phone): signed, no login
    path("p/", include("inbox.urls_page")),
    # Business logos, in development and production alike (no separate web server needed). Nothing else under
    # MEDIA_ROOT is public: caller MMS media goes through the login-checked /app/<slug>/media/... view.
    *media_urlpatterns(),
]
