"""Regenerate providers/data/model_catalog.json from litellm's model map.

This is how the catalog's numbers (context windows, output limits, prices, capability flags) are
kept current without making litellm a runtime dependency: download the wheel without installing
it and point this command at it::

    pip download --no-deps litellm -d /tmp/litellm-wheel
    python manage.py update_model_catalog --from /tmp/litellm-wheel/litellm-*.whl

``--from`` also accepts the bare ``model_prices_and_context_window.json``. Without ``--from`` the
command uses an installed litellm if there is one. Review the diff of the JSON file before
committing it: a price or a context window that moved changes routing and cost estimates.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers import catalog


class Command(BaseCommand):
    help = "Regenerate the model catalog (providers/data/model_catalog.json) from litellm's map."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="source",
            type=Path,
            help="A litellm wheel (.whl) or its model_prices_and_context_window.json.",
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=catalog.CATALOG_PATH,
            help="Where to write the catalog (default: the file Mosaic reads).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source: Path | None = options["source"] or _installed_litellm_map()
        if source is None:
            raise CommandError(
                "No litellm source. Download the wheel without installing it "
                "(pip download --no-deps litellm -d /tmp/litellm-wheel) and pass it with --from."
            )
        if not source.exists():
            raise CommandError(f"{source} does not exist")
        try:
            litellm_map, version = catalog.read_litellm_source(source)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {source}: {exc}") from exc

        document = catalog.extract_catalog(litellm_map, litellm_version=version)
        output: Path = options["output"]
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")

        count = sum(len(entries) for entries in document["models"].values())
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {count} models from litellm {version} to {output}")
        )
        missing = document["_meta"]["missing_from_litellm"]
        if missing:
            self.stdout.write(
                self.style.WARNING(
                    "Not in litellm's map (the overlay in providers/catalog.py covers them, "
                    f"or they are gone): {', '.join(missing)}"
                )
            )


def _installed_litellm_map() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    for name in (
        "model_prices_and_context_window_backup.json",
        "model_prices_and_context_window.json",
    ):
        if (package / name).exists():
            return package / name
    return None
