# Inbound MMS whose media is still to be copied. A constant database default: no table rewrite, and the processes
# still running the previous release (which do not know the column) keep inserting messages during a deploy.
# Messages received before this migration keep media_pending False: the media sweeper does not look at them.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0008_message_sending_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="media_pending",
            field=models.BooleanField(db_default=False, default=False),
        ),
    ]
