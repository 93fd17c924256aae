"""Task classifier: the first step of routing a chat message.

The phrase tables are data (routing/data/phrases.json); the rules live in routing.rule_classifier.
"""

from __future__ import annotations

from routing.rule_classifier import (
    LONG_CONVERSATION_TOKENS,
    LONG_MESSAGE_CHARS,
    RuleBasedClassifier,
)
from routing.vocabulary import (
    CAPABILITIES,
    COMPLEXITIES,
    COST_TIERS,
    DOMAINS,
    TASK_TYPES,
    Capability,
    Classification,
    Classifier,
    ClassifierContext,
    Complexity,
    CostTier,
    Domain,
    TaskType,
)

__all__ = [
    "CAPABILITIES",
    "COMPLEXITIES",
    "COST_TIERS",
    "DEFAULT_CLASSIFIER",
    "DOMAINS",
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
    "classify",
]

DEFAULT_CLASSIFIER: Classifier = RuleBasedClassifier()


def classify(text: str, context: ClassifierContext | None = None) -> Classification:
    """Classify one chat message with the default classifier."""
    return DEFAULT_CLASSIFIER.classify(text, context)
