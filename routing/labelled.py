"""Labelled messages: the files routing is trained on and measured with.

Two formats, chosen by the file's extension:

- JSON Lines (``.jsonl``, ``.json``): one object per line with ``text`` and any of
  ``task_type``, ``complexity``, ``domain``; optionally ``conversation_tokens``,
  ``message_count``, ``has_images`` and ``attachments`` (the conversation the message was sent
  in). Other keys (``lang``, ``note``, ``split``) are kept as ``extra`` and otherwise ignored.
- Tab-separated (``.tsv``, ``.txt``): a header line naming the columns (``text`` and at least
  one of the three fields, in any order, plus any of the context columns); in ``text``, ``\\n``,
  ``\\t`` and ``\\\\`` stand for a newline, a tab and a backslash.

A message need not carry every label: accuracy for a field is counted over the messages that
have it. A mistake (an unknown label, a missing ``text``, a line that is not JSON) is reported
with its line number, and nothing is measured until the file is right.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routing.vocabulary import FIELDS, LABELS, ClassifierContext, Field

_CONTEXT_KEYS = ("conversation_tokens", "message_count", "has_images", "attachments")
_TSV_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


class DatasetError(ValueError):
    """A labelled file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class LabelledMessage:
    text: str
    labels: dict[Field, str]
    context: ClassifierContext = field(default_factory=ClassifierContext)
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def load(path: Path) -> list[LabelledMessage]:
    """Every message of a labelled file, checked."""
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        messages = list(_from_jsonl(path, content.splitlines()))
    elif suffix in (".tsv", ".txt", ".tab"):
        messages = list(_from_tsv(path, content.splitlines()))
    else:
        raise DatasetError(f"{path}: unknown format {suffix or '(none)'!r}; use .jsonl or .tsv")
    if not messages:
        raise DatasetError(f"{path}: no labelled messages")
    return messages


def load_many(paths: Iterable[Path]) -> list[LabelledMessage]:
    return [message for path in paths for message in load(path)]


def _from_jsonl(path: Path, lines: list[str]) -> Iterable[LabelledMessage]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{number}: not a JSON object")
        yield _message(path, number, row)


def _from_tsv(path: Path, lines: list[str]) -> Iterable[LabelledMessage]:
    rows = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    if not rows:
        return
    header_line, header = rows[0]
    columns = [column.strip() for column in header.split("\t")]
    if "text" not in columns:
        raise DatasetError(
            f"{path}:{header_line}: the first line must name the columns, one of them 'text' "
            f"(found {', '.join(repr(c) for c in columns)})"
        )
    for number, line in rows[1:]:
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise DatasetError(
                f"{path}:{number}: {len(cells)} columns where the header has {len(columns)}"
            )
        row: dict[str, Any] = dict(zip(columns, cells, strict=True))
        row["text"] = _unescape(row["text"])
        for key in _CONTEXT_KEYS:
            if key in row:
                row[key] = _tsv_value(path, number, key, row[key])
        yield _message(path, number, row)


def _tsv_value(path: Path, number: int, key: str, value: str) -> int | bool:
    if key == "has_images":
        if value.strip().lower() in ("", "0", "false", "no"):
            return False
        if value.strip().lower() in ("1", "true", "yes"):
            return True
        raise DatasetError(f"{path}:{number}: has_images must be true or false, not {value!r}")
    try:
        return int(value or 0)
    except ValueError:
        raise DatasetError(
            f"{path}:{number}: {key} must be a whole number, not {value!r}"
        ) from None


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(_TSV_ESCAPES.get(following, "\\" + following))
        else:
            out.append(char)
    return "".join(out)


def _message(path: Path, number: int, row: dict[str, Any]) -> LabelledMessage:
    text = row.get("text")
    if not isinstance(text, str):
        raise DatasetError(f"{path}:{number}: every message needs a 'text' string")
    labels: dict[Field, str] = {}
    for name in FIELDS:
        value = row.get(name)
        if value in (None, ""):
            continue
        if value not in LABELS[name]:
            raise DatasetError(
                f"{path}:{number}: unknown {name} {value!r}; expected one of "
                f"{', '.join(LABELS[name])}"
            )
        labels[name] = value
    if not labels:
        raise DatasetError(f"{path}:{number}: no label; give at least one of {', '.join(FIELDS)}")
    context_values: dict[str, Any] = {}
    for key in _CONTEXT_KEYS:
        value = row.get(key)
        if value is None:
            continue
        expected = bool if key == "has_images" else int
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise DatasetError(f"{path}:{number}: {key} must be a {expected.__name__}")
        context_values[key] = value
    extra = {
        key: value for key, value in row.items() if key not in (*FIELDS, "text", *_CONTEXT_KEYS)
    }
    return LabelledMessage(
        text=text,
        labels=labels,
        context=ClassifierContext(**context_values),
        line=number,
        extra=extra,
    )
