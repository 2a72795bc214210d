"""Replying to a caller from a conversation's page. One view serves htmx (the composer partial) and plain POSTs
(redirect back with a flash), so the composer works without JavaScript."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from inbox.canned import composer_context
from inbox.forms import ReplyForm
from inbox.models import Conversation
from inbox.services import message_reply
from inbox.views import thread_context
from messaging.segments import analyse
from tenants.permissions import EVERYONE, role_required


@role_required(*EVERYONE)
@require_POST
def conversation_reply(request, business_slug: str, conversation_id: int):
    """Queue a reply. Another business's conversation is a 404, the same as one that does not exist. On htmx the
    composer comes back with the error and the text kept, or cleared, with the page's changed parts (the timeline
    showing the queued message) swapped out of band."""
    thread = get_object_or_404(
        Conversation.objects.select_related("contact", "phone_number"), business=request.business, pk=conversation_id
    )
    form = ReplyForm(request.POST)
    form.is_valid()  # no field rules of its own: always valid, gives cleaned_data
    body = form.cleaned_data.get("body", "")
    try:
        message = message_reply(conversation=thread, body=body, user=request.user)
    except ValidationError as error:
        if not request.htmx:
            messages.error(request, " ".join(error.messages))
            return redirect(reverse("conversation", args=[request.business.slug, thread.pk]) + "#composer")
        form.add_error("body", error)
        thread.contact.refresh_from_db(fields=["opted_out"])
        return _composer(request, thread, form, body)
    if not request.htmx:
        messages.success(request, "Reply queued. Its delivery status shows in the timeline.")
        return redirect(reverse("conversation", args=[request.business.slug, thread.pk]) + "#composer")
    # The composer comes back empty, and the timeline (with the queued message) and header out of band.
    thread = Conversation.objects.select_related("contact", "assignee", "phone_number").get(pk=thread.pk)
    context = {**thread_context(request, thread), "reply_form": ReplyForm(), "oob": True}
    response = TemplateResponse(request, "inbox/_reply_sent.html", context)
    response["X-Live-Version"] = context["live_version"]
    trigger_client_event(response, "replyQueued", {"message_id": message.pk})
    return response


def _composer(request, thread: Conversation, form: ReplyForm, body: str) -> TemplateResponse:
    return TemplateResponse(
        request,
        "inbox/_composer.html",
        {
            **composer_context(conversation=thread, business=request.business),
            "conversation": thread,
            "contact": thread.contact,
            "reply_form": form,
            "segment_info": analyse(body.replace("\r\n", "\n").strip()),
        },
    )
