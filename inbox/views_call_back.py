""" "Call back" on a conversation's page: one tap rings the member's own phone and connects them to the caller
(telephony/services_call_back.py). One view serves htmx (the call-back partial, with the outcome in it) and plain
POSTs (redirect back with a flash), so the button works without JavaScript."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from inbox.models import Conversation
from telephony.services_call_back import call_back, calling_message
from tenants.permissions import EVERYONE, role_required


@role_required(*EVERYONE)
@require_POST
def conversation_call_back(request, business_slug: str, conversation_id: int):
    """Place a call back. Another business's conversation is a 404, the same as one that does not exist. What
    the member must fix (no phone number, a withheld caller, a carrier refusal, a teammate already calling) comes
    back as a message in the partial or the flash, never as an error page."""
    conversation = get_object_or_404(
        Conversation.objects.select_related("contact", "phone_number"), business=request.business, pk=conversation_id
    )
    page = reverse("conversation", args=[request.business.slug, conversation.pk]) + "#call-back"
    try:
        call = call_back(conversation=conversation, user=request.user)
    except ValidationError as error:
        text = " ".join(error.messages)
        if not request.htmx:
            messages.error(request, text)
            return redirect(page)
        return _partial(request, conversation, error=text, error_code=error.code or "")
    if not request.htmx:
        messages.success(request, calling_message(call))
        return redirect(page)
    return _partial(request, conversation, call=call)


def _partial(request, conversation: Conversation, *, call=None, error: str = "", error_code: str = ""):
    return TemplateResponse(
        request,
        "inbox/_call_back.html",
        {
            "conversation": conversation,
            "contact": conversation.contact,
            "call_back": call,
            "call_back_message": calling_message(call) if call else "",
            "call_back_error": error,
            "call_back_error_code": error_code,
        },
    )
