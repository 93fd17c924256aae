"""Re-encrypt every encrypted column under the first key of MOSAIC_ENCRYPTION_KEYS.

Rotation, step by step (docs/providers.md): put the new key first and keep the old one after it
(``MOSAIC_ENCRYPTION_KEYS=new,old``), restart, run this command, then drop the old key.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction

from providers.fields import DecryptionError, encrypted_fields


class Command(BaseCommand):
    help = "Re-encrypt all encrypted fields under the first key of MOSAIC_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = max(1, int(options["batch_size"]))
        total = 0
        for model in apps.get_models():
            fields = encrypted_fields(model)
            if fields:
                total += self._rotate(model, [f.name for f in fields], batch_size)
        self.stdout.write(
            self.style.SUCCESS(f"Done: {total} rows re-encrypted under the first key.")
        )

    def _rotate(self, model: type[models.Model], field_names: list[str], batch_size: int) -> int:
        label = model._meta.label
        pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
        count = len(pks)
        done = 0
        for start in range(0, len(pks), batch_size):
            chunk = pks[start : start + batch_size]
            with transaction.atomic():
                try:
                    # Reading decrypts with any key; saving encrypts with the first.
                    rows = list(
                        model._default_manager.select_for_update()
                        .filter(pk__in=chunk)
                        .only("pk", *field_names)
                    )
                except DecryptionError as exc:
                    raise CommandError(f"{label}: {exc}") from None
                model._default_manager.bulk_update(rows, field_names)
            done += len(chunk)
            self.stdout.write(f"{label}: {done}/{count} rows re-encrypted")
        if not pks:
            self.stdout.write(f"{label}: 0/0 rows re-encrypted")
        return done
