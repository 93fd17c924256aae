"""What the classifier says about a message: its vocabulary and its verdict.

Routing rules match on these values, the rule validator checks conditions against them, and
every tier of the classifier (``routing.rule_classifier``, ``routing.statistical``) answers in
them. Standard library only: this module is imported by everything that routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

TaskType = Literal["coding", "research", "summarization", "conversation", "analysis", "creative"]
Complexity = Literal["simple", "moderate", "complex"]
Domain = Literal["frontend", "backend", "devops", "docs", "general"]
CostTier = Literal["cheap", "standard", "premium"]
Capability = Literal["tools", "vision", "long-context", "reasoning"]
# Which part of the classifier decided a field: the phrase and shape rules, or the model
# trained on the labelled corpus (routing.statistical).
Tier = Literal["rules", "statistical"]
Field = Literal["task_type", "complexity", "domain"]

# The routing rule validator imports these to check rule conditions, so they are the single
# source of truth for the vocabulary (derived from the Literal types so the two can't drift).
TASK_TYPES: tuple[TaskType, ...] = get_args(TaskType)
COMPLEXITIES: tuple[Complexity, ...] = get_args(Complexity)
DOMAINS: tuple[Domain, ...] = get_args(Domain)
COST_TIERS: tuple[CostTier, ...] = get_args(CostTier)
CAPABILITIES: tuple[Capability, ...] = get_args(Capability)
TIERS: tuple[Tier, ...] = get_args(Tier)
# The labelled fields, in the order they are reported.
FIELDS: tuple[Field, ...] = get_args(Field)
LABELS: dict[Field, tuple[str, ...]] = {
    "task_type": TASK_TYPES,
    "complexity": COMPLEXITIES,
    "domain": DOMAINS,
}

# Below this confidence a decision is called "low confidence" in the route line.
LOW_CONFIDENCE = 0.6


@dataclass(frozen=True, slots=True)
class ClassifierContext:
    """What the gateway knows about the conversation besides the message text."""

    conversation_tokens: int = 0
    message_count: int = 0
    has_images: bool = False
    attachments: int = 0


@dataclass(frozen=True, slots=True)
class FieldVerdict:
    """Who decided one field, how sure it is, and why that tier was asked."""

    field: Field
    tier: Tier
    confidence: float
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"tier": self.tier, "confidence": round(self.confidence, 2), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's verdict; routing rules match on these fields.

    ``decided_by`` says, per labelled field, which tier decided and with what confidence (empty
    for a classification built by hand). ``warning`` is set when a low-confidence verdict may
    send the message to a cheaper model than it needs (or a dearer one than it is worth).
    """

    task_type: TaskType
    complexity: Complexity
    domain: Domain
    cost_tier: CostTier
    capabilities: frozenset[Capability] = field(default_factory=frozenset)
    signals: tuple[str, ...] = ()
    decided_by: tuple[FieldVerdict, ...] = ()
    warning: str = ""

    @property
    def tier(self) -> str:
        """ "rules", "statistical", or "mixed" when the fields were decided by different tiers."""
        tiers = {verdict.tier for verdict in self.decided_by}
        if not tiers:
            return "rules"
        return tiers.pop() if len(tiers) == 1 else "mixed"

    @property
    def confidence(self) -> float:
        """The least sure of the task and complexity decisions (those choose the model)."""
        sure = [v.confidence for v in self.decided_by if v.field in ("task_type", "complexity")]
        return min(sure) if sure else 1.0

    def verdict(self, name: Field) -> FieldVerdict | None:
        return next((v for v in self.decided_by if v.field == name), None)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able data for RoutingDecision rows and the session:info event."""
        return {
            "task_type": self.task_type,
            "complexity": self.complexity,
            "domain": self.domain,
            "cost_tier": self.cost_tier,
            "capabilities": sorted(self.capabilities),
            "signals": list(self.signals),
            "tier": self.tier,
            "confidence": round(self.confidence, 2),
            "decided_by": {verdict.field: verdict.to_dict() for verdict in self.decided_by},
            "warning": self.warning or None,
        }

    def summary(self) -> str:
        """Short phrase for routing explanations.

        "coding + complex" when the rules named the task and both fields are sure (the
        statistical tier judging the complexity is the usual case, not news); otherwise the
        tiers and the confidence follow, e.g. "coding + complex (statistical, 74% sure)", and a
        warning about a low-confidence verdict that could be costly, e.g. "conversation +
        simple (statistical, 41% sure; low confidence: could be coding + complex)".
        """
        head = f"{self.task_type} + {self.complexity}"
        routing_fields = [v for v in self.decided_by if v.field in ("task_type", "complexity")]
        confident = self.confidence >= LOW_CONFIDENCE
        task = self.verdict("task_type")
        if (task is None or task.tier == "rules") and confident and not self.warning:
            return head
        tiers = {v.tier for v in routing_fields}
        who: str
        if len(tiers) == 1:
            who = tiers.pop()
        else:
            who = ", ".join(f"{v.field.split('_')[0]} by {v.tier}" for v in routing_fields)
        detail = f"{who}, {self.confidence:.0%} sure"
        if self.warning:
            detail += f"; {self.warning}"
        return f"{head} ({detail})"


class Classifier(Protocol):
    """Anything that can classify a message; ``routing.classifier.classify`` delegates to one."""

    def classify(self, text: str, context: ClassifierContext | None = None) -> Classification: ...
