"""Task classifier: the first step of routing a chat message.

``classify(text, context)`` turns a user message (plus a little context about the conversation)
into a ``Classification`` that routing rules match on: what kind of task it is, how hard, which
engineering area, how much it is worth spending, and which model capabilities it needs.

It has two tiers, and says per field which one decided and how sure it is:

1. **Rules** (``routing.rule_classifier``): phrase tables and the shape of the request. A clear
   cue decides the task type at once, for well under a millisecond.
2. **Statistical** (``routing.statistical``): a logistic regression trained on the labelled
   corpus, over words, character n-grams, multilingual concepts, the structure of the request
   and the rules' own evidence. It decides the task type when the rules found no cue or two
   close ones, and the complexity and domain unless a rule settles them outright; its
   confidence is the model's probability.

A low-confidence verdict that could send a message to the wrong price tier says so in
``Classification.warning`` (shown in the route line). The thresholds below were chosen by
cross-validation on the training data (docs/routing.md, "How the tiers were tuned"); the blind
evaluation set only measures them.

Everything here is standard library and in process: it runs on every chat message.
"""

from __future__ import annotations

import logging

from routing.rule_classifier import (
    LONG_CONVERSATION_TOKENS,
    LONG_MESSAGE_CHARS,
    RuleBasedClassifier,
    RuleVerdict,
    cost_tier,
)
from routing.statistical import MODEL_PATH, Prediction, StatisticalModel
from routing.vocabulary import (
    CAPABILITIES,
    COMPLEXITIES,
    COST_TIERS,
    DOMAINS,
    FIELDS,
    LOW_CONFIDENCE,
    TASK_TYPES,
    Capability,
    Classification,
    Classifier,
    ClassifierContext,
    Complexity,
    CostTier,
    Domain,
    Field,
    FieldVerdict,
    TaskType,
)

__all__ = [
    "CAPABILITIES",
    "COMPLEXITIES",
    "COST_TIERS",
    "DEFAULT_CLASSIFIER",
    "DOMAINS",
    "FIELDS",
    "LONG_CONVERSATION_TOKENS",
    "LONG_MESSAGE_CHARS",
    "TASK_TYPES",
    "Capability",
    "Classification",
    "Classifier",
    "ClassifierContext",
    "Complexity",
    "CostTier",
    "Domain",
    "RuleBasedClassifier",
    "TaskType",
    "TieredClassifier",
    "classify",
]

logger = logging.getLogger("mosaic.routing")

# The rules decide the task type when one task's cues outscore every other by a clear margin
# and add up to at least this much (one strong phrase, or a phrase plus pasted code).
STRONG_TASK_SCORE = 6
# When the model was consulted anyway (for the complexity) and gives another task type at
# least this probability, it overrules a clear rule cue: in cross-validation on the training
# data the model was right more often than the phrase tables where the two disagreed.
OVERRULE_CONFIDENCE = 0.5
# How often a rules decision of each kind was right in cross-validation on the training data:
# the confidence reported for it.
RULE_CONFIDENCE: dict[Field, float] = {"task_type": 0.9, "complexity": 0.9, "domain": 0.85}
# Work that should never land on the cheap conversation tier by default: when the model gives
# these task types this much probability together, a "conversation + simple" verdict becomes
# "conversation + moderate" (the standard tier) and says why.
_DELIVERABLE_TASKS: tuple[TaskType, ...] = ("coding", "research", "analysis")
_DELIVERABLE_MASS = 0.35
_COST_RANK: dict[CostTier, int] = {"cheap": 0, "standard": 1, "premium": 2}


class TieredClassifier:
    """Rules first; the statistical model where the rules are unsure."""

    def __init__(
        self, rules: RuleBasedClassifier | None = None, model: StatisticalModel | None = None
    ) -> None:
        self.rules = rules or RuleBasedClassifier()
        self.model = model

    def classify(self, text: str, context: ClassifierContext | None = None) -> Classification:
        verdict = self.rules.analyse(text, context or ClassifierContext())
        plan = rule_plan(verdict)
        predictions = None
        if self.model is not None and not all(plan.values()):
            predictions = self.model.predict(verdict.shape, verdict.evidence())
        return combine(verdict, predictions)


def rule_plan(verdict: RuleVerdict) -> dict[Field, bool]:
    """Per field, whether the rules settle it on their own."""
    top = max(verdict.task_scores.values())
    task_clear = verdict.task_cue == "clear" and top >= STRONG_TASK_SCORE
    # A greeting or a thank-you: the rules know it is small talk, and small talk is simple.
    small_talk = verdict.task_type == "conversation" and verdict.task_cue == "clear"
    return {
        "task_type": task_clear,
        "complexity": (task_clear and small_talk)
        or _long_input(verdict)
        or (task_clear and verdict.summarizes_conversation),
        "domain": task_clear and small_talk,
    }


def _long_input(verdict: RuleVerdict) -> bool:
    """Material or a conversation far longer than anything in training: complex by definition
    (docs/routing.md: "long material"), whatever its words say."""
    shape = verdict.shape
    estimated_tokens = shape.conversation_tokens + shape.text_len // 4
    return shape.text_len > LONG_MESSAGE_CHARS or estimated_tokens > LONG_CONVERSATION_TOKENS


def combine(verdict: RuleVerdict, predictions: dict[Field, Prediction] | None) -> Classification:
    """The final verdict from the rules' and (when consulted) the model's answers."""
    plan = rule_plan(verdict)
    decided: list[FieldVerdict] = []
    extra_signals: list[str] = []

    def by_rules(name: Field) -> bool:
        return plan[name] or predictions is None

    overruled = (
        predictions is not None
        and plan["task_type"]
        and predictions["task_type"].label != verdict.task_type
        and predictions["task_type"].confidence >= OVERRULE_CONFIDENCE
    )
    if by_rules("task_type") and not overruled:
        task = verdict.task_type
        decided.append(_rules_verdict("task_type", verdict, predictions))
    else:
        assert predictions is not None
        prediction = predictions["task_type"]
        task = prediction.label  # type: ignore[assignment]
        why = f"overrules the rules' {verdict.task_type}" if overruled else _task_reason(verdict)
        decided.append(_model_verdict("task_type", prediction, why))

    reading = verdict.for_task(task)
    if by_rules("complexity"):
        complexity = "complex" if _long_input(verdict) else reading.complexity
        decided.append(_rules_verdict("complexity", verdict, predictions))
    else:
        assert predictions is not None
        complexity = predictions["complexity"].label  # type: ignore[assignment]
        decided.append(_model_verdict("complexity", predictions["complexity"], "structure"))
    if by_rules("domain"):
        domain = reading.domain
        decided.append(_rules_verdict("domain", verdict, predictions))
    else:
        assert predictions is not None
        domain = predictions["domain"].label  # type: ignore[assignment]
        decided.append(_model_verdict("domain", predictions["domain"], "vocabulary"))

    if predictions is not None and task == "conversation" and complexity == "simple":
        probabilities = predictions["task_type"].probabilities
        mass = sum(probabilities.get(t, 0.0) for t in _DELIVERABLE_TASKS)
        if mass >= _DELIVERABLE_MASS:
            complexity = "moderate"
            extra_signals.append(f"may ask for real work ({mass:.0%} coding/research/analysis)")

    warning = _warning(task, complexity, decided, predictions)
    for item in decided:
        extra_signals.append(f"{item.field} by {item.tier} ({item.confidence:.0%}): {item.reason}")
    return Classification(
        task_type=task,
        complexity=complexity,
        domain=domain,
        cost_tier=cost_tier(task, complexity),
        capabilities=verdict.capabilities_for(task, complexity),
        signals=(*reading.signals, *extra_signals),
        decided_by=tuple(decided),
        warning=warning,
    )


def _rules_verdict(
    name: Field, verdict: RuleVerdict, predictions: dict[Field, Prediction] | None
) -> FieldVerdict:
    if predictions is None and name == "task_type" and verdict.task_cue != "clear":
        return FieldVerdict(name, "rules", 0.5, "no statistical model; rules default")
    reason = "clear cue" if name == "task_type" else "small talk"
    if name == "complexity" and _long_input(verdict):
        reason = "long input"
    elif name == "complexity" and verdict.summarizes_conversation:
        reason = "size of the conversation it summarizes"
    if predictions is None and not rule_plan(verdict)[name]:
        reason = "no statistical model"
    return FieldVerdict(name, "rules", RULE_CONFIDENCE[name], reason)


def _model_verdict(name: Field, prediction: Prediction, why: str) -> FieldVerdict:
    words = ", ".join(dict.fromkeys(_readable(feature) for feature in prediction.top_features))
    reason = f"{why}; runner-up {prediction.runner_up} {prediction.runner_up_confidence:.0%}"
    if words:
        reason += f"; features {words}"
    return FieldVerdict(name, "statistical", prediction.confidence, reason)


def _task_reason(verdict: RuleVerdict) -> str:
    if verdict.task_cue == "none":
        return "no task cue"
    ranked = sorted(verdict.task_scores.items(), key=lambda item: item[1], reverse=True)
    (first, first_score), (second, second_score) = ranked[0], ranked[1]
    if verdict.task_cue == "close":
        return f"rules too close ({first} {first_score} vs {second} {second_score})"
    return f"weak cue ({first} {first_score})"


def _readable(feature: str) -> str:
    """'w:schema' -> "'schema'"; 'k:compare' -> 'concept compare'; shapes as they are."""
    kind, _, value = feature.partition(":")
    if kind in ("w", "b", "s", "s2", "m"):
        return repr(value)
    if kind in ("k", "k0"):
        return f"concept {value}"
    if kind == "c":
        return f"{value.strip()!r}"
    return feature


def _warning(
    task: TaskType,
    complexity: Complexity,
    decided: list[FieldVerdict],
    predictions: dict[Field, Prediction] | None,
) -> str:
    """Say so when an unsure verdict could put the message in the wrong price tier."""
    if predictions is None:
        return ""
    unsure = [v for v in decided if v.field != "domain" and v.confidence < LOW_CONFIDENCE]
    if not unsure:
        return ""
    alternative_task: TaskType = task
    alternative_complexity: Complexity = complexity
    for item in unsure:
        runner_up = predictions[item.field].runner_up
        if item.field == "task_type":
            alternative_task = runner_up  # type: ignore[assignment]
        else:
            alternative_complexity = runner_up  # type: ignore[assignment]
    chosen = cost_tier(task, complexity)
    alternative = cost_tier(alternative_task, alternative_complexity)
    if chosen == alternative and "premium" not in (chosen, alternative):
        return ""
    if (alternative_task, alternative_complexity) == (task, complexity):
        return ""
    direction = (
        "a costlier model may be needed"
        if _COST_RANK[alternative] > _COST_RANK[chosen]
        else "a cheaper model may do"
    )
    return f"low confidence: could be {alternative_task} + {alternative_complexity} ({direction})"


def _load_default() -> Classifier:
    try:
        model = StatisticalModel.load(MODEL_PATH)
    except (OSError, ValueError, KeyError) as exc:
        # Routing must never fail to start: without the model the rules decide everything.
        logger.warning("statistical routing model unavailable (%s); using rules only", exc)
        model = None
    return TieredClassifier(RuleBasedClassifier(), model)


DEFAULT_CLASSIFIER: Classifier = _load_default()


def classify(text: str, context: ClassifierContext | None = None) -> Classification:
    """Classify one chat message with the default classifier."""
    return DEFAULT_CLASSIFIER.classify(text, context)
