"""``mosaic routing eval FILE`` and ``mosaic routing train``: the classifier's tools.

They run locally and need no server and no database (the classifier is plain Python);
``routing.commands`` does the work, as it does for ``manage.py routing_eval|routing_train``.
``register(subparsers)`` is called by ``mosaic.cli``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mosaic.console import CommandError


def cmd_routing_eval(args: argparse.Namespace) -> int:
    # Imported here so that `mosaic --help` does not load the classifier's model.
    from routing.commands import RoutingToolError, run_eval

    try:
        print(run_eval(args.file, output=args.output, rules_only=args.rules_only))
    except RoutingToolError as exc:
        raise CommandError(str(exc)) from None
    return 0


def cmd_routing_train(args: argparse.Namespace) -> int:
    # Imported here so that `mosaic --help` does not load the classifier's model.
    from routing.commands import RoutingToolError, run_train
    from routing.statistical import MODEL_PATH
    from routing.training import DEFAULT_CORPUS

    try:
        summary = run_train(
            args.files or DEFAULT_CORPUS,
            args.output or MODEL_PATH,
            progress=lambda line: print(line, file=sys.stderr),
        )
    except RoutingToolError as exc:
        raise CommandError(str(exc)) from None
    print(summary)
    return 0


def register(subparsers: Any) -> None:
    routing = subparsers.add_parser(
        "routing", help="measure or retrain the message classifier (no server needed)"
    )
    actions = routing.add_subparsers(dest="routing_command", required=True)

    evaluate = actions.add_parser(
        "eval",
        help="accuracy and confusion matrices on a TSV or JSONL of labelled messages",
        description=(
            "Classify every message of FILE and print accuracy and a confusion matrix per "
            "field. No message is printed. Formats: docs/routing.md."
        ),
    )
    evaluate.add_argument("file", type=Path, help="labelled messages (.jsonl or .tsv)")
    evaluate.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", dest="output"
    )
    evaluate.add_argument("--rules-only", action="store_true", help="measure the rule tier alone")
    evaluate.set_defaults(func=cmd_routing_eval)

    train = actions.add_parser(
        "train",
        help="rebuild the statistical tier from the labelled corpus",
        description="Train routing/data/statistical_model.json from labelled files.",
    )
    train.add_argument(
        "files", nargs="*", type=Path, help="training files (default: tests/routing/ corpus)"
    )
    train.add_argument("--output", type=Path, default=None)
    train.set_defaults(func=cmd_routing_train)
