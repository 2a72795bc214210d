from django.shortcuts import render

from tenants.permissions import EVERYONE, MANAGERS, role_required


@role_required(*EVERYONE)
def dashboard(request, business_slug):
    return render(request, "tenants/dashboard.html")


@role_required(*MANAGERS)
def settings_home(request, business_slug):
    return render(request, "tenants/settings_home.html")
