"""Place a simulated call to a simulator number, through the same handling code as Twilio's webhooks."""

import json

from django.core.management.base import BaseCommand, CommandError

from messaging.models import Message
from secdesk.phone import InvalidPhoneNumber, to_e164
from telephony.models import PhoneNumber
from telephony.simulation import OUTCOMES, SimulationError, normalise_caller, simulate_call


class Command(BaseCommand):
    help = (
        "Simulate a call to a simulator number and print the outcome as JSON: call id, status, missed reason, "
        "text-back decision and the queued text-back message id."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, help="The business's simulator number, e.g. +14155238886.")
        parser.add_argument("--from", dest="caller", required=True, help="The caller's number (or 'anonymous').")
        parser.add_argument("--outcome", required=True, help=f"What happens while it rings: {' | '.join(OUTCOMES)}.")

    def handle(self, *args, to: str, caller: str, outcome: str, **options):
        if outcome not in OUTCOMES:
            raise CommandError(f"Unknown --outcome {outcome!r}: use one of {', '.join(OUTCOMES)}.")
        try:
            e164 = to_e164(to)
        except InvalidPhoneNumber as exc:
            raise CommandError(f"--to: {exc}") from None
        try:
            caller = normalise_caller(caller)
        except SimulationError as exc:
            raise CommandError(f"--from: {exc}") from None
        number = PhoneNumber.objects.select_related("business").filter(e164=e164).first()
        if number is None:
            raise CommandError(f"--to: no business has the number {e164}.")
        try:
            call = simulate_call(number=number, caller=caller, outcome=outcome)
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        message_id = (
            Message.objects.filter(idempotency_key=f"textback:{call.provider_call_id}")
            .values_list("pk", flat=True)
            .first()
        )
        self.stdout.write(
            json.dumps(
                {
                    "call_id": call.provider_call_id,
                    "call_pk": call.pk,
                    "business": number.business.slug,
                    "status": call.status,
                    "missed_reason": call.missed_reason or None,
                    "decision": call.decision,
                    "decision_reason": call.decision_reason,
                    "message_id": message_id,
                }
            )
        )
