from django.shortcuts import render

from tenants.permissions import EVERYONE, role_required


@role_required(*EVERYONE)
def calls(request, business_slug):
    return render(request, "telephony/calls.html")
