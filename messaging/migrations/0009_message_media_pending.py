# Inbound MMS whose media is still to be copied, and the partial index the media sweeper reads. The column has a
# constant default (no table rewrite); the index is built CONCURRENTLY (so not in a transaction), like 0008.
# Messages received before this migration keep media_pending False: the sweeper does not look at them.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0008_message_sending_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="media_pending",
            field=models.BooleanField(default=False),
        ),
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(
                condition=models.Q(("media_pending", True)), fields=["created_at"], name="message_media_pending_idx"
            ),
        ),
    ]
