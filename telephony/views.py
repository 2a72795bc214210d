"""Dashboard pages for telephony: numbers and blocklist, carrier account, calls, and the call simulator (with
replying as the caller).

Views translate HTTP into a form check and a call to telephony.settings_services (or the simulator), then
redirect. Every read goes through telephony.selectors with the request's business, so another business's rows
are never found (404, the same as not existing)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from secdesk.phone import pretty
from telephony import selectors
from telephony.forms import (
    BlockedNumberForm,
    CarrierCredentialForm,
    PhoneNumberForm,
    SimulatorForm,
    SimulatorReplyForm,
)
from telephony.models import PhoneNumber
from telephony.settings_services import (
    blocked_number_add,
    blocked_number_remove,
    credential_delete,
    credential_set,
    number_create,
    number_delete,
    number_update,
)
from telephony.simulation import OUTCOMES, SimulationError, simulate_call, simulate_reply
from tenants.permissions import EVERYONE, MANAGERS, OWNERS, role_required


def _add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the named fields when the form has them."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _number_or_404(request, number_id: int) -> PhoneNumber:
    number = selectors.number_get(business=request.business, number_id=number_id)
    if number is None:
        raise Http404("Not found.")
    return number


# --- numbers and blocklist -------------------------------------------------------------------------------------


def _render_numbers(request, *, blocked_form: BlockedNumberForm | None = None):
    business = request.business
    numbers = list(selectors.numbers_for(business=business))
    uses_twilio = any(n.provider == "twilio" for n in numbers)
    return render(
        request,
        "telephony/numbers.html",
        {
            "numbers": numbers,
            "blocked": selectors.blocked_numbers_for(business=business),
            "blocked_form": blocked_form or BlockedNumberForm(),
            "twilio_unconfigured": uses_twilio
            and selectors.credential_for(business=business) is None
            and not selectors.platform_account_configured(),
            "has_simulator": any(n.provider == "simulator" for n in numbers),
            "is_owner": request.membership.role in OWNERS,
        },
    )


@role_required(*MANAGERS)
def numbers(request, business_slug):
    return _render_numbers(request)


@role_required(*MANAGERS)
def number_add(request, business_slug):
    form = PhoneNumberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            number = number_create(business=request.business, **form.cleaned_data)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            next_step = (
                " Now paste the webhook addresses below into your Twilio console."
                if number.provider == "twilio"
                else ""
            )
            messages.success(request, f"{pretty(number.e164)} is connected.{next_step}")
            return redirect("settings_number_edit", business_slug=request.business.slug, number_id=number.pk)
    return render(request, "telephony/number_form.html", {"form": form, "number": None})


@role_required(*MANAGERS)
def number_edit(request, business_slug, number_id: int):
    number = _number_or_404(request, number_id)
    form = PhoneNumberForm(request.POST or None, instance=number)
    if request.method == "POST" and form.is_valid():
        try:
            number = number_update(number=number, **form.cleaned_data)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, f"Settings for {pretty(number.e164)} saved.")
            return redirect("settings_number_edit", business_slug=request.business.slug, number_id=number.pk)
    is_twilio = number.provider == "twilio"
    return render(
        request,
        "telephony/number_form.html",
        {
            "form": form,
            "number": number,
            "webhook_urls": selectors.twilio_webhook_urls() if is_twilio else [],
            "forwarding_codes": (
                selectors.forwarding_codes(number=number) if number.mode == PhoneNumber.Mode.FORWARDED else []
            ),
            "twilio_unconfigured": is_twilio
            and selectors.credential_for(business=request.business) is None
            and not selectors.platform_account_configured(),
            "is_owner": request.membership.role in OWNERS,
        },
    )


@require_POST
@role_required(*MANAGERS)
def number_remove(request, business_slug, number_id: int):
    number = _number_or_404(request, number_id)
    try:
        number_delete(number=number)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("settings_number_edit", business_slug=request.business.slug, number_id=number.pk)
    messages.success(request, f"{pretty(number.e164)} is disconnected from SecondDesk.")
    return redirect("settings_numbers", business_slug=request.business.slug)


@require_POST
@role_required(*MANAGERS)
def blocked_add(request, business_slug):
    form = BlockedNumberForm(request.POST)
    if form.is_valid():
        try:
            blocked, created = blocked_number_add(
                business=request.business, number=form.cleaned_data["number"], reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            if created:
                messages.success(request, f"{pretty(blocked.e164)} is blocked: its calls will never be texted.")
            else:
                messages.info(request, f"{pretty(blocked.e164)} was already blocked.")
            return redirect(reverse("settings_numbers", args=[request.business.slug]) + "#blocklist")
    return _render_numbers(request, blocked_form=form)


@require_POST
@role_required(*MANAGERS)
def blocked_remove(request, business_slug, blocked_id: int):
    blocked = selectors.blocked_numbers_for(business=request.business).filter(pk=blocked_id).first()
    if blocked is None:
        raise Http404("Not found.")
    blocked_number_remove(blocked=blocked)
    messages.success(request, f"{pretty(blocked.e164)} is no longer blocked.")
    return redirect(reverse("settings_numbers", args=[request.business.slug]) + "#blocklist")


# --- carrier account -------------------------------------------------------------------------------------------


@role_required(*OWNERS)
def carrier(request, business_slug):
    business = request.business
    credential = selectors.credential_for(business=business)
    form = CarrierCredentialForm(
        request.POST or None,
        initial={"account_sid": credential.account_sid} if credential else None,
        has_token=credential is not None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            credential_set(
                business=business,
                account_sid=form.cleaned_data["account_sid"],
                auth_token=form.cleaned_data["auth_token"] or None,
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, "Twilio account saved. The auth token is stored encrypted.")
            return redirect("settings_carrier", business_slug=business.slug)
    return render(
        request,
        "telephony/carrier.html",
        {
            "form": form,
            "credential": credential,
            "masked_token": selectors.masked_token(credential) if credential else "",
            "platform_configured": selectors.platform_account_configured(),
        },
    )


@require_POST
@role_required(*OWNERS)
def carrier_remove(request, business_slug):
    if credential_delete(business=request.business):
        messages.success(request, "Your Twilio account is disconnected; the platform account is used instead.")
    return redirect("settings_carrier", business_slug=request.business.slug)


# --- calls -----------------------------------------------------------------------------------------------------


@role_required(*EVERYONE)
def calls(request, business_slug):
    business = request.business
    filter_key = request.GET.get("show", "all")
    if filter_key not in selectors.CALL_FILTERS:
        filter_key = "all"
    page = selectors.calls_page(business=business, filter_key=filter_key, before=request.GET.get("before"))
    show_simulator = False
    if not page.calls and page.is_first and request.membership.role in OWNERS:
        show_simulator = selectors.has_simulator_number(business=business)
    return render(
        request,
        "telephony/calls.html",
        {
            "page": page,
            "filter_key": filter_key,
            "filters": [(key, label) for key, (label, _q) in selectors.CALL_FILTERS.items()],
            "show_simulator": show_simulator,
        },
    )


# --- simulator -------------------------------------------------------------------------------------------------


def _simulator_context(request, *, call) -> dict:
    """What the caller's phone shows for `call`: its texts with the number that was called, oldest first."""
    if call is None:
        return {"call": None, "thread": []}
    return {
        "call": call,
        "thread": selectors.simulator_thread(
            business=request.business, caller=call.caller, number=call.phone_number.e164
        ),
    }


@role_required(*OWNERS)
def simulator(request, business_slug):
    """Place a test call to a simulator number and watch the caller's phone. Owners only, and only when the
    business has a simulator number (a real carrier number is never called from here)."""
    business = request.business
    if not selectors.has_simulator_number(business=business):
        raise Http404("No simulator number.")
    call = selectors.simulated_call_get(business=business, call_id=request.GET.get("call"))
    if request.htmx and call is not None:
        return render(request, "telephony/_simulator_phone.html", _simulator_context(request, call=call))

    form = SimulatorForm(request.POST or None, business=business)
    if request.method == "POST" and form.is_valid():
        try:
            call = simulate_call(
                number=form.cleaned_data["number"],
                caller=form.cleaned_data["caller"],
                outcome=form.cleaned_data["outcome"],
            )
        except SimulationError as exc:
            form.add_error(None, str(exc))
        else:
            url = reverse("simulator", args=[business.slug])
            return redirect(f"{url}?call={call.pk}&outcome={form.cleaned_data['outcome']}")
    return _render_simulator(request, form=form, call=call)


def _render_simulator(request, *, form: SimulatorForm, call, reply_form: SimulatorReplyForm | None = None):
    business = request.business
    outcome = request.GET.get("outcome")
    if call is not None and reply_form is None:
        reply_form = SimulatorReplyForm(initial={"caller": call.caller})
    return render(
        request,
        "telephony/simulator.html",
        {
            **_simulator_context(request, call=call),
            "form": form,
            "reply_form": reply_form,
            "outcome_label": OUTCOMES.get(outcome or ""),
            "outcome": outcome,
            "is_open": business.is_open(),
            "recent": selectors.recent_simulated_calls(business=business),
        },
    )


@require_POST
@role_required(*OWNERS)
def simulator_reply(request, business_slug, call_id: int):
    """Text the business as the caller of a simulated call: the text goes through `message_receive`, the same
    handling as Twilio's SMS webhook. htmx gets the refreshed phone (and a fresh form, or the form with its
    errors, swapped out of band); without JavaScript a success redirects back to the simulator and an error
    shows the page with the form. Owners only; a call that is not a simulated call of this business is 404."""
    call = selectors.simulated_call_get(business=request.business, call_id=call_id)
    if call is None:
        raise Http404("No such simulated call.")
    form = SimulatorReplyForm(request.POST)
    sent = False
    if form.is_valid():
        try:
            simulate_reply(number=call.phone_number, caller=form.cleaned_data["caller"], body=form.cleaned_data["body"])
        except SimulationError as exc:
            form.add_error(None, str(exc))
        else:
            sent = True
    if not request.htmx:
        if sent:
            messages.success(request, "Your text as the caller arrived at the business.")
            url = reverse("simulator", args=[request.business.slug])
            return redirect(f"{url}?call={call.pk}#sim-phone")
        return _render_simulator(request, form=SimulatorForm(business=request.business), call=call, reply_form=form)
    if sent:
        form = SimulatorReplyForm(initial={"caller": form.cleaned_data["caller"]})
    return render(
        request,
        "telephony/_simulator_reply_response.html",
        {**_simulator_context(request, call=call), "reply_form": form},
    )
