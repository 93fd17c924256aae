"""Training the statistical tier from the labelled corpus (``mosaic routing train``).

One multinomial logistic regression per field, fitted by stochastic gradient descent with
AdaGrad steps and L2 regularisation, in plain Python so that rebuilding the model needs nothing
beyond the project. The result is deterministic: the same corpus gives the same file.

The corpus is the hand-labelled ``tests/routing/corpus.jsonl``, the blind-written training sets
``tests/routing/train.jsonl`` and ``tests/routing/train_blind2.jsonl`` and the examples in
``tests/routing/train_extra.jsonl`` (docs/routing.md says who wrote which). The blind evaluation set is never read here.
"""

from __future__ import annotations

import hashlib
import math
import random
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from operator import mul
from pathlib import Path

from routing.labelled import LabelledMessage, load, load_many
from routing.rule_classifier import RuleBasedClassifier
from routing.statistical import (
    FieldEnsemble,
    FieldModel,
    Prediction,
    StatisticalModel,
    features,
    softmax,
)
from routing.vocabulary import FIELDS, LABELS, Field

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "routing"
DEFAULT_CORPUS = (
    CORPUS_DIR / "corpus.jsonl",
    CORPUS_DIR / "train.jsonl",
    CORPUS_DIR / "train_extra.jsonl",
    CORPUS_DIR / "train_blind2.jsonl",
)
# The file the blind evaluation set lives in: training refuses it, whatever it is called.
BLIND_EVAL_NAME = "blind_eval.jsonl"


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    epochs: int = 12
    learning_rate: float = 0.5
    l2: float = 1e-5
    # Features seen in fewer messages than this are left out: they are mostly noise, and they
    # would make the model file large.
    min_count: int = 2
    seed: int = 0
    # Per field, the models whose probabilities are averaged, each named by the feature kinds
    # (name prefixes) it leaves out. Chosen by cross-validation on the training data
    # (docs/routing.md, "How the tiers were tuned"): character n-grams help tell task types
    # apart, and a second task model without them helps more; they blur complexity and domain.
    members: dict[str, tuple[tuple[str, ...], ...]] = field(
        default_factory=lambda: {
            "task_type": ((), ("c:",)),
            "complexity": (("c:",),),
            "domain": (("c:",),),
        }
    )


Progress = Callable[[str], None]


def message_features(message: LabelledMessage, rules: RuleBasedClassifier) -> list[str]:
    verdict = rules.analyse(message.text, message.context)
    return features(verdict.shape, verdict.evidence())


def train(
    messages: Sequence[LabelledMessage],
    settings: TrainingSettings = TrainingSettings(),
    *,
    meta: dict[str, object] | None = None,
    progress: Progress | None = None,
    featurized: Sequence[list[str]] | None = None,
) -> StatisticalModel:
    """Fit the three field models on ``messages``."""
    if featurized is None:
        rules = RuleBasedClassifier()
        featurized = [message_features(message, rules) for message in messages]
    counts = Counter(name for names in featurized for name in set(names))
    vocabulary = sorted(name for name, count in counts.items() if count >= settings.min_count)
    index = {name: position for position, name in enumerate(vocabulary)}
    rows = [sorted({index[name] for name in names if name in index}) for names in featurized]

    fields: dict[Field, FieldEnsemble] = {}
    for name in FIELDS:
        labels = LABELS[name]
        members: list[FieldModel] = []
        for ignored in settings.members.get(name, ((),)):
            used = [not (ignored and feature.startswith(ignored)) for feature in vocabulary]
            labelled = [
                ([f for f in row if used[f]], labels.index(message.labels[name]))
                for row, message in zip(rows, messages, strict=True)
                if name in message.labels
            ]
            if progress:
                leaving_out = f" without {', '.join(ignored)}" if ignored else ""
                progress(f"training {name}{leaving_out} on {len(labelled)} messages")
            model = _fit(labelled, len(vocabulary), labels, settings)
            model.ignored = tuple(ignored)
            members.append(model)
        fields[name] = FieldEnsemble(members)
    return StatisticalModel(vocabulary, fields, dict(meta or {}))


def _fit(
    labelled: list[tuple[list[int], int]],
    feature_count: int,
    labels: tuple[str, ...],
    settings: TrainingSettings,
) -> FieldModel:
    width = len(labels)
    weights = [[0.0] * width for _ in range(feature_count)]
    squares = [1e-8] * feature_count  # AdaGrad: one accumulator per feature
    bias = [0.0] * width
    bias_squares = 1e-8
    rate, l2 = settings.learning_rate, settings.l2
    order = list(range(len(labelled)))
    shuffler = random.Random(settings.seed)  # noqa: S311 - a reproducible order, not a secret
    for _ in range(settings.epochs):
        shuffler.shuffle(order)
        for position in order:
            row, target = labelled[position]
            value = 1 / math.sqrt(len(row)) if row else 0.0
            row_weights = [weights[feature] for feature in row]
            # zip(*rows) sums each label's column in C, in the same order as a loop would.
            totals = [sum(column) for column in zip(*row_weights, strict=True)] or [0.0] * width
            gradient = softmax([b + t * value for b, t in zip(bias, totals, strict=True)])
            gradient[target] -= 1.0
            bias_squares += sum(map(mul, gradient, gradient))
            step = rate / math.sqrt(bias_squares)
            bias = [b - step * g for b, g in zip(bias, gradient, strict=True)]
            scaled = [g * value for g in gradient]
            for feature, current in zip(row, row_weights, strict=True):
                grads = [g + l2 * w for g, w in zip(scaled, current, strict=True)]
                squares[feature] += sum(map(mul, grads, grads))
                step = rate / math.sqrt(squares[feature])
                weights[feature] = [w - step * g for w, g in zip(current, grads, strict=True)]
    flat = array("f", (w for row_weights in weights for w in row_weights))
    return FieldModel(labels, flat, bias)


def cross_validate(
    messages: Sequence[LabelledMessage],
    settings: TrainingSettings = TrainingSettings(),
    *,
    folds: int = 5,
    measured: Callable[[LabelledMessage], bool] = lambda message: True,
    progress: Progress | None = None,
) -> list[dict[Field, Prediction] | None]:
    """Each measured message's prediction by a model trained without its fold.

    Messages for which ``measured`` is false are always in the training folds (the
    hand-tuned corpus, for instance, says little about new users' messages). Returns, per
    message, its predictions, or None for the unmeasured ones.
    """
    rules = RuleBasedClassifier()
    featurized = [message_features(message, rules) for message in messages]
    candidates = [i for i, message in enumerate(messages) if measured(message)]
    random.Random(settings.seed).shuffle(candidates)  # noqa: S311 - reproducible folds
    fold_of = {position: rank % folds for rank, position in enumerate(candidates)}
    out: list[dict[Field, Prediction] | None] = [None] * len(messages)
    for fold in range(folds):
        inside = [i for i in range(len(messages)) if fold_of.get(i) != fold]
        if progress:
            progress(f"fold {fold + 1} of {folds}")
        model = train(
            [messages[i] for i in inside],
            settings,
            featurized=[featurized[i] for i in inside],
        )
        for position in (i for i in candidates if fold_of[i] == fold):
            indexes, names = model.encode(featurized[position])
            out[position] = {
                name: field_model.predict(indexes, names)
                for name, field_model in model.fields.items()
            }
    return out


def refuse_blind_set(paths: Sequence[Path]) -> None:
    """Training on the blind evaluation set would make its figures meaningless."""
    for path in paths:
        if path.name == BLIND_EVAL_NAME:
            raise ValueError(
                f"{path} is the blind evaluation set: it measures routing and is never trained on"
            )


def corpus_fingerprint(paths: Sequence[Path]) -> dict[str, str]:
    """SHA-256 of each training file, recorded in the model so a stale model can be detected."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def build_model(
    paths: Sequence[Path] = DEFAULT_CORPUS,
    settings: TrainingSettings = TrainingSettings(),
    *,
    progress: Progress | None = None,
) -> StatisticalModel:
    """Train on the labelled files; the model records what it was trained on and how."""
    refuse_blind_set(paths)
    messages = load_many(paths)
    meta: dict[str, object] = {
        "trained_on": {path.name: len(load(path)) for path in paths},
        "corpus_sha256": corpus_fingerprint(paths),
        "settings": asdict(settings),
        "rebuild": "mosaic routing train (or: python manage.py routing_train)",
    }
    model = train(messages, settings, meta=meta, progress=progress)
    model.meta["vocabulary"] = len(model.vocabulary)
    return model
