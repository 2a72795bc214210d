"""An owner on a phone: logs in, sets hours, places a simulated call and watches the text-back arrive."""

import pytest

from telephony.models import PhoneNumber
from tests.factories import DEFAULT_PASSWORD
from tests.numbers import always_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_sets_hours_and_sees_a_missed_call_texted(live_server, phone, tenant_a, celery_worker, screenshot_dir):
    always_open(tenant_a.business)
    PhoneNumber.objects.create(
        business=tenant_a.business,
        e164="+14155238886",
        provider="simulator",
        mode="ring",
        forward_to="+14155551234",
        label="Main line",
    )
    page = phone.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", tenant_a.owner.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/acme/")
    assert "Get Acme Plumbing ready" in page.content() or "Acme Plumbing" in page.title()

    page.goto(f"{live_server.url}/app/acme/settings/hours/")
    page.fill("input[name=sunday]", "10:00-14:00")
    page.click("button:has-text('Save hours')")
    page.wait_for_load_state()
    assert page.input_value("input[name=sunday]") == "10:00-14:00"
    page.screenshot(path=str(screenshot_dir / "owner-hours-phone.png"), full_page=True)

    page.goto(f"{live_server.url}/app/acme/simulator/")
    page.check("input[value='no-answer']")
    page.click("button:has-text('Call')")
    # The text-back goes through the real Celery worker and the simulator carrier; the phone panel polls.
    page.wait_for_selector("#sim-phone :text('sorry we missed your call')", timeout=15000)
    page.wait_for_selector("#sim-phone :text('Delivered')", timeout=15000)
    page.screenshot(path=str(screenshot_dir / "simulator-phone.png"), full_page=True)
