"""Beat's scheduler: django-celery-beat's, with Mosaic's default schedules treated as defaults.

Jobs declare a default schedule in code (``@job(every=Every(...))``, some from a setting such as
``MOSAIC_PROVIDER_HEALTH_INTERVAL``). django-celery-beat's own scheduler writes
``beat_schedule`` over the table every time beat starts, so an interval changed in the admin
would silently come back at the next restart. This one writes an entry only when it is missing
or when its *default* changed since it was written (the default is recorded in the entry's
description): an edit in the admin sticks until the code or the setting changes, and then the
new default wins. Pausing (``enabled``) is never touched. Schedules that staff add in the admin
are theirs alone.
"""

from __future__ import annotations

from typing import Any

from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from core.jobs import beat_entries


def default_marker(fields: dict[str, Any]) -> str:
    options = fields.get("options") or {}
    expires = options.get("expire_seconds")
    return (
        f"Mosaic default: every {fields['schedule']:g} s"
        + (f", dropped if not started within {expires} s" if expires else "")
        + ". Edits here stick until this default changes."
    )


class MosaicScheduler(DatabaseScheduler):  # type: ignore[misc]
    def setup_schedule(self) -> None:
        self.install_default_entries(self.schedule)
        self.update_from_dict({**(self.app.conf.beat_schedule or {}), **beat_entries()})

    def update_from_dict(self, mapping: dict[str, dict[str, Any]]) -> None:
        schedule = {}
        for name, fields in mapping.items():
            if not isinstance(fields.get("schedule"), int | float):
                super().update_from_dict({name: fields})  # crontab and friends: stock behaviour
                continue
            marker = default_marker(fields)
            model = PeriodicTask.objects.filter(name=name).first()
            if model is not None and model.description == marker:
                entry = self.Entry(model, app=self.app)
            else:
                entry = self.Entry.from_entry(name, app=self.app, **fields)
                PeriodicTask.objects.filter(pk=entry.model.pk).update(description=marker)
            if entry.model.enabled:
                schedule[name] = entry
        self.schedule.update(schedule)
