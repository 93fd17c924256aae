"""System check: the broker's visibility timeout must outlast every job a worker may hold.

Redis gives a message that was delivered but not acknowledged to another worker once the
visibility timeout has passed. With ``acks_late`` a message stays unacknowledged while its job
waits for its countdown (the one it was sent with, or a retry's) and while it runs, so a
timeout shorter than that would run a job twice at once. ``manage.py check`` (and ``migrate``,
which ``mosaic run`` calls first) refuses such a configuration.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.utils.module_loading import autodiscover_modules

from core.jobs import longest_hold_seconds, registered_jobs


@register("jobs")
def check_visibility_timeout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    autodiscover_modules("tasks")  # every app's tasks.py declares its jobs
    timeout = float(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"])
    errors: list[CheckMessage] = []
    for spec in sorted(registered_jobs().values(), key=lambda s: s.name):
        hold = longest_hold_seconds(spec)
        if hold >= timeout:
            errors.append(
                Error(
                    f"Job {spec.name} may be held {hold:.0f} s (time limit {spec.time_limit} s "
                    f"plus the countdown before it runs), longer than the broker's visibility "
                    f"timeout ({timeout:.0f} s): Redis would hand it to a second worker while "
                    "it waits or runs.",
                    hint="Raise MOSAIC_JOBS_VISIBILITY_TIMEOUT, or lower the job's time limit "
                    "or the countdown it is sent with.",
                    id="jobs.E001",
                )
            )
    return errors
