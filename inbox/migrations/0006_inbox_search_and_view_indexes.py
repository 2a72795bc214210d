# Indexes for the inbox at 100k conversations (bench/inbox_scale.py, docs/performance.md): one per inbox view that
# its keyset page and its count read in order, and trigram indexes for search by name and number.
#
# Built CONCURRENTLY (so not in a transaction): conversations are updated by every text in or out, and a plain
# CREATE INDEX would hold those writes for as long as the build takes. pg_trgm and btree_gin are trusted extensions
# (PostgreSQL 13+): the database owner may create them. btree_gin lets a GIN index start with the business column.
#
# Search plans depend on PostgreSQL estimating how many callers a name or number fragment matches (few: look it
# up in the index; many: walk the view in order). The default 100-value sample cannot tell 0.07% (four digits of
# a number) from 1%, so the number and the name get a 1,000-value sample.

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently, BtreeGinExtension, TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inbox", "0005_inbox_actions_notes_routing"),
    ]

    operations = [
        TrigramExtension(),
        BtreeGinExtension(),
        AddIndexConcurrently(
            model_name="contact",
            index=django.contrib.postgres.indexes.GinIndex(
                models.F("business"),
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("name"), name="gin_trgm_ops"
                ),
                name="contact_name_trgm_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="contact",
            index=django.contrib.postgres.indexes.GinIndex(
                models.F("business"),
                django.contrib.postgres.indexes.OpClass(models.F("phone"), name="gin_trgm_ops"),
                name="contact_phone_trgm_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(fields=["business", "zip_code"], name="contact_business_zip_idx"),
        ),
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(
                models.F("business"),
                models.Case(
                    models.When(priority="urgent", then=models.Value(0)),
                    models.When(priority="high", then=models.Value(1)),
                    default=models.Value(2),
                ),
                django.db.models.functions.comparison.Coalesce("last_inbound_at", "created_at"),
                models.F("id"),
                condition=models.Q(
                    ("status", "new"),
                    models.Q(
                        models.Q(
                            ("last_outbound_at__isnull", True),
                            ("last_inbound_at__gt", models.F("last_outbound_at")),
                            _connector="OR",
                        ),
                        ("status", "open"),
                    ),
                    _connector="OR",
                ),
                name="conv_needs_reply_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("status__in", ["new", "open", "waiting", "snoozed"])),
                fields=["business", "assignee", "-last_activity_at", "-id"],
                name="conv_open_assignee_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("priority", "urgent"), ("status__in", ["new", "open", "waiting", "snoozed"])),
                fields=["business", "-last_activity_at", "-id"],
                name="conv_open_urgent_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("status__in", ["booked", "lost", "closed"])),
                fields=["business", "-last_activity_at", "-id"],
                name="conv_closed_idx",
            ),
        ),
        migrations.RunSQL(
            [
                "ALTER TABLE inbox_contact ALTER COLUMN phone SET STATISTICS 1000",
                "ALTER INDEX contact_name_trgm_idx ALTER COLUMN 2 SET STATISTICS 1000",
            ],
            reverse_sql=[
                "ALTER TABLE inbox_contact ALTER COLUMN phone SET STATISTICS -1",
                "ALTER INDEX contact_name_trgm_idx ALTER COLUMN 2 SET STATISTICS -1",
            ],
        ),
    ]
