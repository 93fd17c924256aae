"""The routing tools behind ``mosaic routing eval|train`` and ``manage.py routing_eval|train``.

Both front ends parse their arguments and call these; a mistake in the input comes back as a
``RoutingToolError`` with one sentence for the user. Neither needs the database: the classifier
is plain Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from routing.classifier import DEFAULT_CLASSIFIER, RuleBasedClassifier
from routing.evaluation import evaluate, format_json, format_markdown, format_text
from routing.labelled import DatasetError, load
from routing.statistical import MODEL_PATH
from routing.training import DEFAULT_CORPUS, TrainingSettings, build_model
from routing.vocabulary import Classifier

OutputFormat = Literal["text", "markdown", "json"]
FORMATS: tuple[OutputFormat, ...] = ("text", "markdown", "json")


class RoutingToolError(Exception):
    """The tool cannot go on; the message says why in one sentence."""


def run_eval(path: Path, *, output: OutputFormat = "text", rules_only: bool = False) -> str:
    """Classify every labelled message of ``path``; accuracy and confusion matrices."""
    try:
        messages = load(path)
    except DatasetError as exc:
        raise RoutingToolError(str(exc)) from None
    classifier: Classifier = RuleBasedClassifier() if rules_only else DEFAULT_CLASSIFIER
    report = evaluate(messages, classifier)
    if output == "json":
        return format_json(report)
    if output == "markdown":
        return format_markdown(report)
    tiers = "the rule tier alone" if rules_only else "the default classifier"
    return format_text(report, title=f"{path.name}, classified by {tiers}")


def run_train(
    paths: Sequence[Path] = DEFAULT_CORPUS,
    output: Path = MODEL_PATH,
    *,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Train the statistical tier on ``paths`` and write it to ``output``."""
    try:
        model = build_model(paths, TrainingSettings(), progress=progress)
    except (DatasetError, ValueError) as exc:
        raise RoutingToolError(str(exc)) from None
    try:
        model.save(output)
    except OSError as exc:
        raise RoutingToolError(f"cannot write {output}: {exc}") from None
    trained_on = ", ".join(f"{name} ({count})" for name, count in model.meta["trained_on"].items())
    return (
        f"wrote {output} ({output.stat().st_size // 1024} KB, {len(model.vocabulary)} features) "
        f"from {trained_on}"
    )
