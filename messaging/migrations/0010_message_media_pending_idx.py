# The partial index the media sweeper reads, built CONCURRENTLY (so not in a transaction, and in a migration of its
# own: an interrupted build leaves an INVALID index to drop, and `migrate` can then be run again), like 0008.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0009_message_media_pending"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(
                condition=models.Q(("media_pending", True)), fields=["created_at"], name="message_media_pending_idx"
            ),
        ),
    ]
