"""A caller on a phone opens the intake link from the text-back, fills the form and submits it."""

import pytest

from intake.models import IntakeSubmission
from intake.services import intake_link_for, intake_settings_for
from tests.factories import ContactFactory, ConversationFactory, PhoneNumberFactory
from tests.intake.conftest import image_bytes
from tests.numbers import CALLER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PAGE_BUDGET = 30 * 1024  # bytes transferred for the page, excluding the logo and photos


def test_caller_fills_and_submits_the_intake_form_on_a_phone(live_server, phone, tenant_a, tmp_path, screenshot_dir):
    business = tenant_a.business
    settings = intake_settings_for(business=business)
    settings.service_types = ["Leak", "Water heater", "Drain"]
    settings.save()
    contact = ContactFactory(business=business, phone=CALLER)
    conversation = ConversationFactory(
        business=business, contact=contact, phone_number=PhoneNumberFactory(business=business)
    )
    link = intake_link_for(conversation=conversation)
    photo = tmp_path / "leak.jpg"
    photo.write_bytes(image_bytes("JPEG", (640, 480)))

    page = phone.new_page()
    transferred: dict[str, int] = {}
    external: list[str] = []

    def on_response(response):
        if not response.url.startswith(live_server.url):
            external.append(response.url)
            return
        body = response.body() if response.status < 300 else b""
        transferred[response.url] = transferred.get(response.url, 0) + len(body)

    page.on("response", on_response)
    page.goto(f"{live_server.url}/i/{link.token}")
    assert "Acme Plumbing" in page.content()
    weight = sum(size for url, size in transferred.items() if "/media/" not in url)
    assert weight <= PAGE_BUDGET, transferred
    assert external == []
    assert page.evaluate("document.scripts.length") == 0  # works without JavaScript: there is none

    page.fill("input[name=name]", "Dana Reyes")
    page.select_option("select[name=service_type]", "Leak")
    page.fill("textarea[name=description]", "Water under the kitchen sink, getting worse.")
    page.fill("input[name=address]", "12 Elm Street")
    page.fill("input[name=zip_code]", "94110")
    page.check("input[name=urgency][value=today]")
    page.check("input[name=customer_type][value=new]")
    page.set_input_files("input[name=photos]", str(photo))
    page.check("input[name=consent]")
    page.screenshot(path=str(screenshot_dir / "intake-phone-filled.png"), full_page=True)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/i/{link.token}/done**")
    page.screenshot(path=str(screenshot_dir / "intake-phone-done.png"), full_page=True)

    submission = IntakeSubmission.objects.get(link=link)
    assert (submission.name, submission.service_type, submission.zip_code, submission.urgency) == (
        "Dana Reyes",
        "Leak",
        "94110",
        "today",
    )
    assert submission.consent_given and submission.photos.count() == 1
    print(f"intake page weight: {weight} bytes (budget {PAGE_BUDGET})")
