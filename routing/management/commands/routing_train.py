"""``manage.py routing_train``: rebuild the statistical tier's model from the labelled corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.commands import RoutingToolError, run_train
from routing.statistical import MODEL_PATH
from routing.training import DEFAULT_CORPUS


class Command(BaseCommand):
    help = "Train the statistical routing tier (routing/data/statistical_model.json)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "files",
            nargs="*",
            type=Path,
            help="labelled training files (default: the corpus in tests/routing/)",
        )
        parser.add_argument("--output", type=Path, default=MODEL_PATH)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = run_train(
                options["files"] or DEFAULT_CORPUS,
                options["output"],
                progress=self.stderr.write,
            )
        except RoutingToolError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(summary)
