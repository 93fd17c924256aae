"""`mosaic routing eval|train` and `manage.py routing_eval|routing_train`."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from mosaic import cli
from routing.statistical import StatisticalModel
from routing.training import DEFAULT_CORPUS

LABELLED = [
    {"text": "hi there!", "task_type": "conversation", "complexity": "simple", "domain": "general"},
    {"text": "thanks, that fixed it", "task_type": "conversation", "complexity": "simple"},
    {
        "text": "Write a haiku about autumn rain.",
        "task_type": "creative",
        "complexity": "simple",
        "domain": "general",
    },
    # Labelled wrong on purpose: the matrix must show it off the diagonal.
    {"text": "hello", "task_type": "coding", "complexity": "simple", "domain": "backend"},
]


@pytest.fixture
def labelled_file(tmp_path: Path) -> Path:
    path = tmp_path / "traffic.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in LABELLED) + "\n", encoding="utf-8")
    return path


def test_eval_prints_accuracy_and_a_confusion_matrix_per_field(
    labelled_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["routing", "eval", str(labelled_file)]) == 0
    out = capsys.readouterr().out
    assert "4 labelled messages" in out
    assert "task_type: 75.0% (3 of 4)" in out
    assert "complexity: 100.0% (4 of 4)" in out
    assert "domain: 66.7% (2 of 3)" in out
    lines = out.splitlines()
    coding_row = next(line for line in lines if line.startswith("coding "))
    # the mislabelled "hello": expected coding, got conversation (4th column)
    assert coding_row.split()[1:] == ["0", "0", "0", "1", "0", "0"]
    assert "coding/research/analysis classified as conversation + simple: 1 of 1" in out
    # aggregate only: no message text is printed
    assert all(row["text"] not in out for row in LABELLED)


def test_eval_json_and_markdown_carry_the_same_figures(
    labelled_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["routing", "eval", str(labelled_file), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["messages"] == 4
    assert data["fields"]["task_type"]["correct"] == 3
    assert data["fields"]["task_type"]["labels"][0] == "coding"
    assert data["fields"]["task_type"]["confusion"][0][3] == 1
    assert cli.main(["routing", "eval", str(labelled_file), "--format", "markdown"]) == 0
    assert "| coding | 0 | 0 | 0 | 1 | 0 | 0 |" in capsys.readouterr().out


def test_eval_rules_only_names_the_tier(
    labelled_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["routing", "eval", str(labelled_file), "--rules-only"]) == 0
    out = capsys.readouterr().out
    assert "classified by the rule tier alone" in out
    assert "rules decided 4" in out


def test_eval_of_a_bad_file_is_one_line_with_its_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("text\ttask_type\nhi\tsmalltalk\n", encoding="utf-8")
    assert cli.main(["routing", "eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mosaic: ")
    assert "bad.tsv:2: unknown task_type 'smalltalk'" in err
    assert "Traceback" not in err


def test_manage_py_routing_eval_delegates_to_the_same_report(labelled_file: Path) -> None:
    out = StringIO()
    call_command("routing_eval", str(labelled_file), stdout=out)
    assert "task_type: 75.0% (3 of 4)" in out.getvalue()
    with pytest.raises(CommandError, match="no such file"):
        call_command("routing_eval", str(labelled_file.with_name("missing.jsonl")))


def test_train_writes_a_model_that_loads_and_predicts(
    labelled_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model.json"
    assert cli.main(["routing", "train", str(labelled_file), "--output", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out
    model = StatisticalModel.load(output)
    assert model.meta["trained_on"] == {"traffic.jsonl": 4}
    assert model.meta["corpus_sha256"]["traffic.jsonl"]
    assert set(model.fields) == {"task_type", "complexity", "domain"}


def test_training_is_deterministic(labelled_file: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "one.json", tmp_path / "two.json"
    call_command("routing_train", str(labelled_file), "--output", str(first), stderr=StringIO())
    call_command("routing_train", str(labelled_file), "--output", str(second), stderr=StringIO())
    assert first.read_bytes() == second.read_bytes()


def test_training_refuses_the_blind_evaluation_set(tmp_path: Path) -> None:
    blind = Path(__file__).with_name("blind_eval.jsonl")
    with pytest.raises(CommandError, match="blind evaluation set"):
        call_command("routing_train", str(blind), "--output", str(tmp_path / "m.json"))
    assert all(path.name != blind.name for path in DEFAULT_CORPUS)
