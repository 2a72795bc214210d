"""Helpers for tests of what happens while another database session holds a lock (real transactions only:
tests using them need `django_db(transaction=True)`)."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def held_elsewhere(take: Callable[[], object]) -> Iterator[None]:
    """Run `take` in another thread, with its own database session, inside a transaction that stays open (with
    the row or advisory-xact locks `take` acquired) until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                take()
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10), "the other session never took its lock"
        yield
    finally:
        release.set()
        thread.join(10)
