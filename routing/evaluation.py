"""Measuring the classifier on labelled messages (``mosaic routing eval FILE``).

An operator can label a sample of their own traffic (see ``routing.labelled`` for the file
formats) and measure routing on it before changing any rule: accuracy and a confusion matrix
per field, which tier decided how often and how well, and how many messages that ask for real
work (coding, research, analysis) were classified as cheap small talk.

The output is aggregate only: no message of the file is printed, so the command can be run on a
blind evaluation set without showing its contents.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from routing.labelled import LabelledMessage
from routing.vocabulary import (
    FIELDS,
    LABELS,
    LOW_CONFIDENCE,
    Classification,
    Classifier,
    Field,
)

# Tasks whose deliverable is real work: never "conversation + simple" (the cheap tier).
WORK_TASKS = ("coding", "research", "analysis")


@dataclass(slots=True)
class FieldReport:
    field: Field
    labels: tuple[str, ...]
    total: int = 0
    correct: int = 0
    # (expected, got) -> count
    confusion: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    # tier -> [decided, correct]
    by_tier: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(slots=True)
class EvaluationReport:
    count: int
    fields: dict[Field, FieldReport]
    # labelled coding/research/analysis, classified conversation + simple
    work_as_small_talk: int
    work_total: int
    low_confidence: int
    warnings: int

    def accuracy(self, name: Field) -> float:
        return self.fields[name].accuracy

    def to_dict(self) -> dict[str, object]:
        return {
            "messages": self.count,
            "fields": {
                name: {
                    "total": report.total,
                    "correct": report.correct,
                    "accuracy": round(report.accuracy, 4),
                    "labels": list(report.labels),
                    "confusion": [
                        [report.confusion[(expected, got)] for got in report.labels]
                        for expected in report.labels
                    ],
                    "by_tier": {
                        tier: {"decided": decided, "correct": correct}
                        for tier, (decided, correct) in sorted(report.by_tier.items())
                    },
                }
                for name, report in self.fields.items()
            },
            "work_classified_as_small_talk": self.work_as_small_talk,
            "work_messages": self.work_total,
            "low_confidence": self.low_confidence,
            "warnings": self.warnings,
        }


def evaluate(messages: Sequence[LabelledMessage], classifier: Classifier) -> EvaluationReport:
    reports = {name: FieldReport(name, LABELS[name]) for name in FIELDS}
    work_as_small_talk = work_total = low_confidence = warnings = 0
    for message in messages:
        result = classifier.classify(message.text, message.context)
        for name, expected in message.labels.items():
            _count(reports[name], expected, result, name)
        if message.labels.get("task_type") in WORK_TASKS:
            work_total += 1
            if (result.task_type, result.complexity) == ("conversation", "simple"):
                work_as_small_talk += 1
        low_confidence += result.confidence < LOW_CONFIDENCE
        warnings += bool(result.warning)
    return EvaluationReport(
        count=len(messages),
        fields=reports,
        work_as_small_talk=work_as_small_talk,
        work_total=work_total,
        low_confidence=low_confidence,
        warnings=warnings,
    )


def _count(report: FieldReport, expected: str, result: Classification, name: Field) -> None:
    got = str(getattr(result, name))
    report.total += 1
    report.correct += got == expected
    report.confusion[(expected, got)] += 1
    verdict = result.verdict(name)
    tier = verdict.tier if verdict else "rules"
    tally = report.by_tier.setdefault(tier, [0, 0])
    tally[0] += 1
    tally[1] += got == expected


def format_text(report: EvaluationReport, *, title: str = "") -> str:
    """Accuracy and a confusion matrix per field, as plain text."""
    lines: list[str] = []
    if title:
        lines.append(title)
    lines.append(f"{report.count} labelled messages")
    for name, field_report in report.fields.items():
        if not field_report.total:
            continue
        lines.append("")
        lines.append(
            f"{name}: {field_report.accuracy:.1%} "
            f"({field_report.correct} of {field_report.total})  " + _tier_text(field_report)
        )
        lines.extend(_matrix_text(field_report))
    if report.work_total:
        lines.append("")
        lines.append(
            f"coding/research/analysis classified as conversation + simple: "
            f"{report.work_as_small_talk} of {report.work_total}"
        )
    lines.append(
        f"low-confidence verdicts: {report.low_confidence}; with a cost warning: {report.warnings}"
    )
    return "\n".join(lines)


def _tier_text(report: FieldReport) -> str:
    parts = []
    for tier, (decided, correct) in sorted(report.by_tier.items()):
        share = correct / decided if decided else 0.0
        parts.append(f"{tier} decided {decided} ({share:.1%} right)")
    return "; ".join(parts)


def _matrix_text(report: FieldReport) -> list[str]:
    labels = report.labels
    width = max(len(label) for label in labels)
    cell = max(6, *(len(label[:8]) + 1 for label in labels))
    header = " " * (width + 2) + "".join(label[:8].rjust(cell) for label in labels)
    lines = [f"{'expected ↓ got →':<{width + 2}}", header]
    for expected in labels:
        row = "".join(str(report.confusion[(expected, got)]).rjust(cell) for got in labels)
        lines.append(f"{expected:<{width + 2}}{row}")
    return lines


def format_markdown(report: EvaluationReport) -> str:
    """The same figures as Markdown tables (for docs/routing.md)."""
    lines: list[str] = []
    for name, field_report in report.fields.items():
        if not field_report.total:
            continue
        lines.append(
            f"**{name}: {field_report.accuracy:.1%}** ({field_report.correct} of "
            f"{field_report.total}; {_tier_text(field_report)})"
        )
        lines.append("")
        labels = field_report.labels
        lines.append("| expected \\ got | " + " | ".join(labels) + " |")
        lines.append("| --- |" + " ---: |" * len(labels))
        for expected in labels:
            cells = " | ".join(str(field_report.confusion[(expected, got)]) for got in labels)
            lines.append(f"| {expected} | {cells} |")
        lines.append("")
    lines.append(
        f"Coding, research or analysis classified as conversation + simple: "
        f"{report.work_as_small_talk} of {report.work_total}. Low-confidence verdicts: "
        f"{report.low_confidence}; with a cost warning: {report.warnings}."
    )
    return "\n".join(lines)


def format_json(report: EvaluationReport) -> str:
    return json.dumps(report.to_dict(), indent=1)
