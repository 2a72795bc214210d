# Inbox search by the ZIP code a caller typed on the intake form (bench/inbox_scale.py, docs/performance.md).
# Built CONCURRENTLY (so not in a transaction): intake submissions keep arriving while it builds.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("intake", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="intakesubmission",
            index=models.Index(fields=["business", "zip_code"], name="intakesub_business_zip_idx"),
        ),
    ]
