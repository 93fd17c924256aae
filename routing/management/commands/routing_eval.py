"""``manage.py routing_eval FILE``: measure the classifier on labelled messages (docs/routing.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing.commands import FORMATS, RoutingToolError, run_eval


class Command(BaseCommand):
    help = (
        "Classify a TSV or JSONL file of labelled messages and print accuracy and a confusion "
        "matrix per field (no message is printed)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="labelled messages (.jsonl or .tsv)")
        parser.add_argument("--format", choices=FORMATS, default="text", dest="output")
        parser.add_argument("--rules-only", action="store_true", help="measure the rule tier alone")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = run_eval(
                options["file"], output=options["output"], rules_only=options["rules_only"]
            )
        except RoutingToolError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(report)
