import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageLimit",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "turns_per_minute",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Messages answered per minute; 0 is unlimited.",
                        null=True,
                    ),
                ),
                (
                    "concurrent_turns",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Replies generated at the same time; 0 is unlimited.",
                        null=True,
                    ),
                ),
                (
                    "tokens_per_day",
                    models.PositiveBigIntegerField(
                        blank=True,
                        help_text="Input plus output tokens per day (UTC); 0 is unlimited.",
                        null=True,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "user",
                    models.OneToOneField(
                        blank=True,
                        help_text="Empty: the default for every user without a row of their own.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="usage_limit",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "usage_limits",
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("user__isnull", True)),
                        fields=("user",),
                        name="one_default_usage_limit",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
    ]
