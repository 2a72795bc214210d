"""An operator works the inbox in a real browser, on a phone and on a desktop: a missed call appears without a
reload, they reply, the simulated caller's phone gets the text, they assign it to themselves and mark it booked."""

import time

import pytest

from inbox.models import Conversation
from messaging.models import Message
from telephony.models import PhoneNumber
from telephony.simulation import simulate_call
from tests.factories import DEFAULT_PASSWORD
from tests.numbers import always_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CALLER = "+14155550142"
VIEWPORTS = {
    "phone": {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1366, "height": 900}},
}


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_operator_sees_a_new_call_live_replies_assigns_and_books(
    live_server, browser, tenant_a, celery_worker, screenshot_dir, device
):
    always_open(tenant_a.business)
    number = PhoneNumber.objects.create(
        business=tenant_a.business, e164="+14155238886", provider="simulator", mode="ring", label="Main line"
    )
    context = browser.new_context(locale="en-US", device_scale_factor=1, **VIEWPORTS[device])
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", tenant_a.operator.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/acme/")
    page.goto(f"{live_server.url}/app/acme/inbox/")
    page.wait_for_selector("text=Nothing in Needs reply")

    # A caller is missed while the inbox is open: the row appears by itself (no reload).
    page.evaluate("window.__sameDocument = true")
    simulate_call(number=number, caller=CALLER, outcome="no-answer")
    page.wait_for_selector(".inbox-row :text('(415) 555-0142')", timeout=10000)
    assert page.evaluate("window.__sameDocument") is True  # it was the live update, not a navigation
    page.screenshot(path=str(screenshot_dir / f"inbox-live-{device}.png"), full_page=True)

    page.click(".inbox-row")
    page.wait_for_selector("#thread-head")
    # The text-back went out through the worker and the simulated carrier.
    page.wait_for_selector("#timeline :text('Delivered')", timeout=15000)

    page.fill("#reply-body", "Hi, this is Acme. We can be there at 3 pm today. Does that work?")
    page.click("#composer button[type=submit]")
    conversation = Conversation.objects.get(business=tenant_a.business, contact__phone=CALLER)
    reply = wait_for(
        lambda: Message.objects.filter(conversation=conversation, kind="reply", status="delivered").first()
    )
    assert reply.to_number == CALLER and reply.from_number == number.e164 and reply.sent_by == tenant_a.operator
    page.wait_for_selector("#timeline :text('We can be there at 3 pm today')", timeout=10000)

    page.click("#thread-head button:has-text('Assign to me')")
    page.wait_for_selector("#thread-head :text('Assigned to you')", timeout=10000)

    page.fill("#booked-value", "1,250")
    page.click("button:has-text('Mark booked')")
    page.wait_for_selector("#thread-head [data-status='booked']", timeout=10000)
    page.wait_for_selector("#timeline :text('marked this booked ($1250.00)')", timeout=10000)
    conversation.refresh_from_db()
    assert (conversation.status, str(conversation.booked_value), conversation.assignee) == (
        "booked",
        "1250.00",
        tenant_a.operator,
    )
    assert conversation.first_response_at is not None
    # nothing overflows sideways on a phone
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(screenshot_dir / f"inbox-thread-booked-{device}.png"), full_page=True)
    context.close()


def test_a_teammate_reply_appears_in_an_open_thread(live_server, browser, tenant_a, celery_worker, screenshot_dir):
    """Two operators on one conversation: the second sees the first one's reply and who sent it, live."""
    from inbox.services import message_reply
    from tests.intake.conftest import open_conversation

    conversation = open_conversation(tenant_a.business)
    PhoneNumber.objects.filter(pk=conversation.phone_number_id).update(provider="simulator")
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", tenant_a.operator.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/acme/")
    page.goto(f"{live_server.url}/app/acme/conversations/{conversation.pk}/")
    page.fill("#reply-body", "Half-typed answer")  # must survive the refresh
    message_reply(conversation=conversation, body="Owner here: booked you for 9 am.", user=tenant_a.owner)
    page.wait_for_selector("#presence:has-text('replied')", timeout=10000)
    assert tenant_a.owner.full_name in page.inner_text("#presence")
    page.wait_for_selector("#timeline :text('booked you for 9 am')")
    assert page.input_value("#reply-body") == "Half-typed answer"
    page.screenshot(path=str(screenshot_dir / "inbox-teammate-replied-desktop.png"), full_page=True)
    context.close()
