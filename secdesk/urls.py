from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from secdesk import views

app_patterns = [
    path("", include("tenants.urls")),
    path("", include("telephony.urls")),
    path("", include("messaging.urls")),
]

urlpatterns = [
    path("", views.root, name="root"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("tenants.urls_accounts")),
    path("app/", views.home, name="home"),
    path("app/<slug:business_slug>/", include(app_patterns)),
    path("webhooks/", include("telephony.urls_webhooks")),
    path("webhooks/", include("messaging.urls_webhooks")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
