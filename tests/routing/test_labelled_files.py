"""Reading labelled messages (routing.labelled): JSONL and TSV, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routing.labelled import DatasetError, load


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_rows_carry_labels_context_and_extra_keys(tmp_path: Path) -> None:
    rows = [
        {"text": "hi", "task_type": "conversation", "complexity": "simple", "lang": "en"},
        {"text": "sum it up", "task_type": "summarization", "conversation_tokens": 90_000},
    ]
    path = write(tmp_path / "mine.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    first, second = load(path)
    assert first.labels == {"task_type": "conversation", "complexity": "simple"}
    assert first.extra == {"lang": "en"}
    assert first.line == 1
    assert second.context.conversation_tokens == 90_000
    assert second.labels == {"task_type": "summarization"}


def test_tsv_has_a_header_and_unescapes_newlines_and_tabs(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mine.tsv",
        "complexity\ttext\ttask_type\n"
        "moderate\tfix this:\\n```\\nx = 1\\tboom\\n```\tcoding\n"
        "simple\ta backslash \\\\ stays\tconversation\n",
    )
    first, second = load(path)
    assert first.text == "fix this:\n```\nx = 1\tboom\n```"
    assert first.labels == {"complexity": "moderate", "task_type": "coding"}
    assert second.text == "a backslash \\ stays"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "a.jsonl",
            '{"text": "hi", "task_type": "chitchat"}\n',
            "a.jsonl:1: unknown task_type 'chitchat'",
        ),
        ("a.jsonl", '{"text": "hi"}\n{"task_type": "coding"}\n', "a.jsonl:1: no label"),
        (
            "a.jsonl",
            '{"text": "hi", "domain": "general"}\nnot json\n',
            "a.jsonl:2: not a JSON object",
        ),
        ("a.jsonl", '{"domain": "general"}\n', "a.jsonl:1: every message needs a 'text' string"),
        (
            "a.tsv",
            "text\ttask_type\nhi\tcoding\textra\n",
            "a.tsv:2: 3 columns where the header has 2",
        ),
        ("a.tsv", "message\ttask_type\nhi\tcoding\n", "the first line must name the columns"),
        ("a.csv", "text,task_type\n", "unknown format '.csv'"),
        ("a.jsonl", "\n\n", "no labelled messages"),
    ],
)
def test_bad_files_are_refused_with_the_line_that_is_wrong(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        load(write(tmp_path / name, content))


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load(tmp_path / "missing.jsonl")
