# Rows in flight, for the outbound sweeper's stuck-send check and /metrics (secdesk/metrics.py). Built
# CONCURRENTLY (so not in a transaction): a plain CREATE INDEX would hold text-backs for the whole table scan.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0007_message_kind_out_of_area"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(
                condition=models.Q(("status", "sending")), fields=["sending_at"], name="message_sending_idx"
            ),
        ),
    ]
