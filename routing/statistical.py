"""The statistical tier: a linear model over hashed n-grams and the shape of the request.

The rules decide when a phrase clearly names the task. When none does, or two task types score
close, a model trained on the labelled corpus decides instead: one multinomial logistic
regression per field (task type, complexity, domain) over

- the words of the ask and their pairs, its first words (the verb of the request), and
  character 3- and 4-grams of the ask, which carry over to inflections and other languages;
- a sample of the words of pasted material (marked apart from the ask);
- the shape of the request (``routing.structure``): length, lists, deliverables, constraints,
  pasted code and logs, the conversation so far.

Features are hashed into a fixed number of buckets (CRC-32, stable across processes), so the
model is a small table of weights: ``routing/data/statistical_model.json``, rebuilt from the
corpus by ``mosaic routing train`` (``routing.training``). Inference is the standard library
only, in process, and bounded: it reads the same slices of the text as the rules.
"""

from __future__ import annotations

import base64
import json
import math
import re
import zlib
from array import array
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from routing.lexicon import DATA_DIR, Lexicon, load_concepts, tokens
from routing.structure import RequestShape
from routing.vocabulary import FIELDS, LABELS, Field

MODEL_PATH = DATA_DIR / "statistical_model.json"
MODEL_FORMAT = 3

_ASK_WORDS = 80
_ASK_CHARS = 300
_MATERIAL_CHARS = 1000
_MATERIAL_WORDS = 120
_LEADING_FILLERS = frozenset(
    {"please", "pls", "can", "could", "would", "you", "now", "so", "then", "also", "and", "hey"}
    | {"ok", "okay", "hi", "hello", "thanks", "i", "we", "need", "want", "me", "help", "just"}
)
# How many of a prediction's strongest features its explanation names.
_EXPLAIN_FEATURES = 3
_SPACE_RE = re.compile(r"\s+")
_CONCEPTS = Lexicon(load_concepts().concepts)
# Concepts among the first words of the ask name the request's verb ("sketch", "weigh").
_LEADING_CONCEPT_TOKENS = 6
_CJK_RE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af]")


def _bucket(value: int, edges: tuple[int, ...]) -> int:
    """Index of the first edge above value (len(edges) when none is)."""
    for index, edge in enumerate(edges):
        if value < edge:
            return index
    return len(edges)


def features(shape: RequestShape, evidence: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The named features of one message (before hashing).

    ``evidence`` is what the rule tier found (``RuleVerdict.evidence()``): the model learns how
    far to trust each kind of rule cue from the messages where the rules were right or wrong.
    """
    out: list[str] = [f"r:{item}" for item in evidence]
    for hit in _CONCEPTS.scan(shape.ask, shape.ask_tokens).values():
        out.append(f"k:{hit.group.target}")
        if hit.first_at < _LEADING_CONCEPT_TOKENS:
            out.append(f"k0:{hit.group.target}")
    words = shape.ask_tokens[:_ASK_WORDS]
    out.extend(f"w:{word}" for word in words)
    out.extend(f"b:{first} {second}" for first, second in pairwise(words))
    leading = [word for word in words[:8] if word not in _LEADING_FILLERS][:2]
    if leading:
        out.append(f"s:{leading[0]}")
        out.append(f"s2:{' '.join(leading)}")
    chars = " " + _SPACE_RE.sub(" ", shape.ask[:_ASK_CHARS]) + " "
    out.extend(f"c:{chars[i : i + 3]}" for i in range(len(chars) - 2))
    out.extend(f"c:{chars[i : i + 4]}" for i in range(len(chars) - 3))
    if shape.body:
        material = tokens(shape.body[:_MATERIAL_CHARS].lower())[:_MATERIAL_WORDS]
        out.extend(f"m:{word}" for word in material)

    out.append(f"len:{_bucket(shape.text_len, (20, 40, 80, 160, 320, 640, 1280, 2560, 5120))}")
    out.append(f"ask:{_bucket(len(shape.ask), (20, 40, 80, 160, 320, 480))}")
    out.append(f"mat:{_bucket(shape.material_chars, (40, 200, 600, 1500, 3000))}")
    out.append(f"code:{_bucket(shape.code_lines, (1, 3, 10, 25))}")
    out.append(f"log:{_bucket(shape.log_lines, (1, 2, 5))}")
    out.append(f"fence:{min(shape.fences, 3)}")
    out.append(f"items:{_bucket(shape.list_items, (1, 2, 3, 4, 6, 9))}")
    out.append(f"listed:{_bucket(shape.listed, (1, 3, 4, 6))}")
    out.append(f"clauses:{_bucket(shape.clauses, (1, 2, 3, 4, 6, 9))}")
    out.append(f"sent:{_bucket(shape.sentences, (1, 2, 3, 5, 8))}")
    out.append(f"req:{_bucket(shape.requirements, (1, 2, 3, 4, 6))}")
    out.append(f"deliv:{min(len(shape.deliverables), 4)}")
    out.extend(f"deliv={name}" for name in shape.deliverables)
    out.append(f"cons:{min(len(shape.constraints), 3)}")
    out.extend(f"cons={name}" for name in shape.constraints)
    out.append(f"conv:{_bucket(shape.conversation_tokens, (1, 5_000, 30_000, 80_000))}")
    if shape.question:
        out.append("question")
    if _CJK_RE.search(shape.ask):
        out.append("script:cjk")
    return out


@dataclass(frozen=True, slots=True)
class Prediction:
    """One field's answer: the label, its probability, the runner-up, and the words that
    pushed hardest towards the label (for the explanation)."""

    label: str
    confidence: float
    runner_up: str
    runner_up_confidence: float
    probabilities: dict[str, float]
    top_features: tuple[str, ...] = ()


class FieldModel:
    """One field's logistic regression: a weight per (feature, label) and a bias per label."""

    def __init__(
        self,
        labels: tuple[str, ...],
        weights: array[float],
        bias: list[float],
        ignored: tuple[str, ...] = (),
    ) -> None:
        self.labels = labels
        self.weights = weights  # row-major: feature * len(labels) + label
        self.bias = bias
        # Kinds of feature this field does not use (name prefixes such as "c:"): character
        # n-grams help tell task types apart but, in cross-validation, blur complexity and domain.
        self.ignored = ignored

    def uses(self, name: str) -> bool:
        return not (self.ignored and name.startswith(self.ignored))

    def predict(self, indexes: list[int], names: list[str] | None = None) -> Prediction:
        if self.ignored and names is not None:
            kept = [i for i, name in enumerate(names) if self.uses(name)]
            indexes = [indexes[i] for i in kept]
            names = [names[i] for i in kept]
        width = len(self.labels)
        weights = self.weights
        scale = 1 / math.sqrt(len(indexes)) if indexes else 0.0
        totals = [0.0] * width
        for index in indexes:
            start = index * width
            for k in range(width):
                totals[k] += weights[start + k]
        probabilities = softmax([b + t * scale for b, t in zip(self.bias, totals, strict=True)])
        ranked = sorted(range(width), key=probabilities.__getitem__, reverse=True)
        first, second = ranked[0], ranked[1]
        top: tuple[str, ...] = ()
        if names is not None:
            pushes = sorted(
                range(len(indexes)),
                key=lambda i: (
                    weights[indexes[i] * width + first] - weights[indexes[i] * width + second]
                ),
                reverse=True,
            )
            top = tuple(names[i] for i in pushes[:_EXPLAIN_FEATURES])
        return Prediction(
            label=self.labels[first],
            confidence=probabilities[first],
            runner_up=self.labels[second],
            runner_up_confidence=probabilities[second],
            probabilities=dict(zip(self.labels, probabilities, strict=True)),
            top_features=top,
        )


class FieldEnsemble:
    """One field's answer from one or more models over different kinds of feature: the mean of
    their probabilities (the first model names the features that explain the verdict)."""

    def __init__(self, members: list[FieldModel]) -> None:
        if not members or any(m.labels != members[0].labels for m in members):
            raise ValueError("an ensemble needs members with the same labels")
        self.members = members
        self.labels = members[0].labels

    def predict(self, indexes: list[int], names: list[str] | None = None) -> Prediction:
        first = self.members[0].predict(indexes, names)
        if len(self.members) == 1:
            return first
        answers = [first, *(m.predict(indexes, names) for m in self.members[1:])]
        share = 1 / len(answers)
        probabilities = {
            label: sum(a.probabilities[label] for a in answers) * share for label in self.labels
        }
        ranked = sorted(self.labels, key=probabilities.__getitem__, reverse=True)
        return Prediction(
            label=ranked[0],
            confidence=probabilities[ranked[0]],
            runner_up=ranked[1],
            runner_up_confidence=probabilities[ranked[1]],
            probabilities=probabilities,
            top_features=first.top_features if first.label == ranked[0] else (),
        )


def softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = sum(exps)
    return [value / total for value in exps]


class StatisticalModel:
    """The vocabulary of features seen in training, the three field models, and their story."""

    def __init__(
        self, vocabulary: list[str], fields: dict[Field, FieldEnsemble], meta: dict[str, Any]
    ) -> None:
        self.vocabulary = vocabulary
        self.index = {name: position for position, name in enumerate(vocabulary)}
        self.fields = fields
        self.meta = meta

    def encode(self, names: list[str]) -> tuple[list[int], list[str]]:
        """Known features of a message, each once, with their names."""
        index = self.index
        seen: dict[int, str] = {}
        for name in names:
            position = index.get(name)
            if position is not None:
                seen[position] = name
        return list(seen), list(seen.values())

    def predict(
        self, shape: RequestShape, evidence: list[str] | tuple[str, ...] = ()
    ) -> dict[Field, Prediction]:
        indexes, names = self.encode(features(shape, evidence))
        return {name: model.predict(indexes, names) for name, model in self.fields.items()}

    # ------------------------------------------------------------------ the file

    def to_json(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, ensemble in self.fields.items():
            members = []
            for model in ensemble.members:
                scale = max((abs(w) for w in model.weights), default=0.0) / 127 or 1.0
                quantized = array("b", (round(w / scale) for w in model.weights))
                members.append(
                    {
                        "bias": [round(b, 5) for b in model.bias],
                        "scale": scale,
                        "ignored": list(model.ignored),
                        "weights": _pack(quantized.tobytes()),
                    }
                )
            fields[name] = {"labels": list(ensemble.labels), "members": members}
        return {
            "format": MODEL_FORMAT,
            "meta": self.meta,
            "vocabulary": _pack("\n".join(self.vocabulary).encode("utf-8")),
            "fields": fields,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatisticalModel:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"unknown statistical model format {data.get('format')!r}")
        vocabulary = _unpack(data["vocabulary"]).decode("utf-8").split("\n")
        fields: dict[Field, FieldEnsemble] = {}
        for name in FIELDS:
            raw = data["fields"][name]
            labels = tuple(raw["labels"])
            if set(labels) != set(LABELS[name]):
                raise ValueError(f"the model's {name} labels {labels} are not the vocabulary")
            members = []
            for member in raw["members"]:
                quantized = array("b")
                quantized.frombytes(_unpack(member["weights"]))
                if len(quantized) != len(vocabulary) * len(labels):
                    raise ValueError(f"the model's {name} weights have the wrong size")
                scale = float(member["scale"])
                weights = array("f", (w * scale for w in quantized))
                bias = [float(b) for b in member["bias"]]
                members.append(FieldModel(labels, weights, bias, tuple(member["ignored"])))
            fields[name] = FieldEnsemble(members)
        return cls(vocabulary, fields, dict(data.get("meta", {})))

    def save(self, path: Path = MODEL_PATH) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> StatisticalModel:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def _pack(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def _unpack(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))
