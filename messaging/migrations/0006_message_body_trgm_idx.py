# Inbox search by message text (bench/inbox_scale.py, docs/performance.md). Built CONCURRENTLY (so not in a
# transaction): a plain CREATE INDEX on the messages table would hold inbound texts and text-backs for the build.
# The indexed expression gets a 1,000-value statistics sample: search plans choose between looking a word up in
# this index and walking the inbox in order by how many messages PostgreSQL expects the word to match.

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inbox", "0006_inbox_search_and_view_indexes"),  # creates the pg_trgm and btree_gin extensions
        ("messaging", "0005_message_business_created_idx"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="message",
            index=django.contrib.postgres.indexes.GinIndex(
                models.F("business"),
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("body"), name="gin_trgm_ops"
                ),
                name="message_body_trgm_idx",
            ),
        ),
        migrations.RunSQL(
            "ALTER INDEX message_body_trgm_idx ALTER COLUMN 2 SET STATISTICS 1000",
            reverse_sql="ALTER INDEX message_body_trgm_idx ALTER COLUMN 2 SET STATISTICS -1",
        ),
    ]
