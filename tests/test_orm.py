"""secdesk.orm.upsert: the one-statement insert-or-take of the hot paths, against the real constraints."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction

from inbox.models import Contact, Timer
from secdesk.orm import upsert
from tests.factories import BusinessFactory, ConversationFactory

PENDING = "fired_at IS NULL AND cancelled_at IS NULL"


@pytest.mark.django_db
def test_creates_once_then_returns_the_stored_row_unchanged():
    business = BusinessFactory()
    first, created = upsert(
        Contact(business=business, phone="+14155550101", name="Ann"), conflict=["business", "phone"]
    )
    assert created and first.pk and first.name == "Ann"
    again, created = upsert(
        Contact(business=business, phone="+14155550101", name="Bob"), conflict=["business", "phone"]
    )
    assert not created
    assert again.pk == first.pk and again.name == "Ann"  # no update fields: the stored row as it was
    assert Contact.objects.filter(business=business).count() == 1


@pytest.mark.django_db
def test_update_fields_take_the_new_values_and_a_partial_index_decides_the_conflict():
    conversation = ConversationFactory()
    now = conversation.created_at

    def schedule(minutes: int) -> tuple[Timer, bool]:
        return upsert(
            Timer(
                business_id=conversation.business_id,
                conversation=conversation,
                kind=Timer.Kind.FOLLOW_UP,
                due_at=now + dt.timedelta(minutes=minutes),
            ),
            conflict=["conversation", "kind"],
            where=PENDING,
            update=["due_at"],
        )

    timer, created = schedule(10)
    assert created
    moved, created = schedule(20)
    assert not created and moved.pk == timer.pk and moved.due_at == now + dt.timedelta(minutes=20)
    Timer.objects.filter(pk=timer.pk).update(fired_at=now)  # no longer pending: outside the partial index
    fresh, created = schedule(30)
    assert created and fresh.pk != timer.pk
    assert Timer.objects.filter(conversation=conversation).count() == 2


@pytest.mark.django_db
def test_extra_values_are_computed_against_the_returned_row():
    business = BusinessFactory()
    contact, _ = upsert(
        Contact(business=business, phone="+14155550102"),
        conflict=["business", "phone"],
        extra={"same_phone": "upserted.phone = %s", "tenant": "upserted.business_id"},
        params=["+14155550102"],
    )
    assert contact.same_phone is True and contact.tenant == business.pk
    assert not hasattr(contact, "upsert_created")


@pytest.mark.django_db
def test_an_unknown_conflict_target_is_refused_by_postgres_and_writes_nothing():
    from django.db import ProgrammingError

    business = BusinessFactory()
    with pytest.raises(ProgrammingError), transaction.atomic():
        upsert(Contact(business=business, phone="+14155550103"), conflict=["name"])
    assert not Contact.objects.filter(business=business).exists()


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_upsert_waits_for_the_first_and_takes_its_row():
    """Two real transactions: the second statement blocks on the first's row lock until it commits, then returns
    that row (created False) instead of a second one."""
    business = BusinessFactory()
    phone = "+14155550104"
    first_holds = threading.Event()
    result = {}

    def second() -> None:
        try:
            first_holds.wait(5)
            with transaction.atomic():
                row, created = upsert(
                    Contact(business=business, phone=phone, name="second"), conflict=["business", "phone"]
                )
            result.update(pk=row.pk, created=created, name=row.name)
        finally:
            connection.close()

    thread = threading.Thread(target=second)
    thread.start()
    with transaction.atomic():
        mine, created = upsert(Contact(business=business, phone=phone, name="first"), conflict=["business", "phone"])
        assert created
        first_holds.set()
        time.sleep(0.5)  # time for the other statement to run: it must be waiting on our lock
        assert "pk" not in result
    thread.join(10)
    assert result["pk"] == mine.pk and result["created"] is False and result["name"] == "first"
    assert Contact.objects.filter(business=business, phone=phone).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reread", [True, False])
def test_extras_of_a_row_another_transaction_held_are_read_again_after_its_commit(reread):
    """The statement's snapshot predates the other transaction's commit: only `reread` sees what it wrote while
    holding the lock (here: a conversation of the contact's)."""
    business = BusinessFactory()
    phone = "+14155550105"
    contact, _ = upsert(Contact(business=business, phone=phone), conflict=["business", "phone"])
    first_holds = threading.Event()
    result = {}
    has_conversation = "EXISTS (SELECT 1 FROM inbox_conversation c WHERE c.contact_id = upserted.id)"

    def second() -> None:
        try:
            first_holds.wait(5)
            with transaction.atomic():
                row, _ = upsert(
                    Contact(business=business, phone=phone),
                    conflict=["business", "phone"],
                    extra={"has_conversation": has_conversation},
                    reread=reread,
                )
            result["has_conversation"] = row.has_conversation
        finally:
            connection.close()

    thread = threading.Thread(target=second)
    thread.start()
    with transaction.atomic():
        upsert(Contact(business=business, phone=phone), conflict=["business", "phone"])  # take the lock
        first_holds.set()
        time.sleep(0.5)  # the other statement has started (its snapshot taken) and waits on our lock
        ConversationFactory(contact=contact)
    thread.join(10)
    assert result["has_conversation"] is reread
