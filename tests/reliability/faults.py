"""Fault entry points for the reliability tests: the real WSGI application and Celery app, with a crash planted where
RELY_FAULT says. Production code carries no fault hooks; this module patches it at import time, and only when the
variable is set:

    gunicorn tests.reliability.faults                  (Deployment(web_module="tests.reliability.faults"))
    celery -A tests.reliability.faults worker          (Deployment(worker_app="tests.reliability.faults"))

RELY_FAULT:
    kill_before_enqueue   web: SIGKILL the gunicorn worker after the missed-call transaction committed, before the
                          on-commit hook rings the broker (the row exists, no task does)
    kill_before_request   worker: SIGKILL after the row was claimed (`sending`), before the carrier request
    kill_during_request   worker: SIGKILL once the carrier has received the request, before its answer is read
                          (script the fake to answer late: ("accept_then_hang", s) or ("hang", s))
    kill_after_request    worker: SIGKILL after the carrier accepted the message, before the result is recorded

A fault fires once per deployment: the first process to create the file RELY_FAULT_ONCE (O_EXCL) fires it, so a
gunicorn worker respawned by its master, or a second message, runs normally.
"""

import os
import signal
import threading
import time

import django
import requests

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secdesk.settings")
django.setup()

from django.conf import settings  # noqa: E402

from secdesk.celery import app  # noqa: E402  (after django.setup: the patches below import models)
from secdesk.wsgi import application  # noqa: E402

FAULTS = {"kill_before_enqueue", "kill_before_request", "kill_during_request", "kill_after_request"}
FAULT = os.environ.get("RELY_FAULT", "")
ONCE = os.environ.get("RELY_FAULT_ONCE", "")


def _first_time() -> bool:
    """True for exactly one caller across every process of the deployment."""
    try:
        os.close(os.open(ONCE, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _carrier_log() -> list[dict]:
    """The fake Twilio API's request log (the deployment points TWILIO_API_BASE_URL at it)."""
    return requests.get(f"{settings.TWILIO_API_BASE_URL}/_fake/requests", timeout=5).json()["requests"]


def _die_once_the_carrier_has_it(before: int) -> None:
    """SIGKILL this process as soon as the carrier has received our request (its answer is scripted to come late),
    so the request is out and its outcome never read."""
    deadline = time.monotonic() + 10
    while len(_carrier_log()) <= before and time.monotonic() < deadline:
        time.sleep(0.01)
    _die()


def _install() -> None:
    if not FAULT:
        return
    if FAULT not in FAULTS:
        raise RuntimeError(f"unknown RELY_FAULT {FAULT!r}; known: {sorted(FAULTS)}")
    if not ONCE:
        raise RuntimeError("RELY_FAULT needs RELY_FAULT_ONCE (a path) so the fault fires once")
    if FAULT == "kill_before_enqueue":
        from messaging.tasks import send_message_task

        delay = send_message_task.delay

        def delay_or_die(*args, **kwargs):
            if _first_time():
                _die()
            return delay(*args, **kwargs)

        send_message_task.delay = delay_or_die
        return
    from telephony.providers.twilio import TwilioProvider

    send = TwilioProvider.send_message

    def send_or_die(self, **kwargs):
        if not _first_time():
            return send(self, **kwargs)
        if FAULT == "kill_before_request":
            _die()
        if FAULT == "kill_during_request":
            threading.Thread(target=_die_once_the_carrier_has_it, args=(len(_carrier_log()),), daemon=True).start()
            return send(self, **kwargs)
        send(self, **kwargs)  # kill_after_request: the carrier has the message; we never record it
        _die()

    TwilioProvider.send_message = send_or_die


_install()

__all__ = ["app", "application"]
