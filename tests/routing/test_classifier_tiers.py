"""The two tiers of the classifier: who decides, how sure it is, and what the route line says.

The issue's example messages (issue 16, written for the issue, not taken from any data set) are
checked against their labels by the definitions in docs/routing.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from routing.classifier import DEFAULT_CLASSIFIER, TieredClassifier, classify, combine
from routing.engine import SessionRouting, resolve
from routing.rule_classifier import RuleBasedClassifier
from routing.statistical import Prediction
from routing.vocabulary import ClassifierContext, Field

ARTICLE = (
    "Can you boil down this article into three bullet points?\n\n"
    "The regional rail operator will replace its entire fleet of diesel trains with "
    "battery-electric units by 2031. The 1.2 billion euro order covers 84 trains, which will "
    "charge from overhead wires on the electrified main lines and run on batteries on the "
    "branch lines that were never electrified.\n\n"
    "The operator says journey times will fall by up to eight minutes because the new trains "
    "accelerate faster, and that running costs will drop by a quarter. Passenger groups "
    "welcomed the plan but asked why the first trains will not arrive until 2028, and "
    "whether the branch lines will keep their current timetable during the changeover.\n\n"
    "The regional government is paying for a third of the order; the rest comes from a loan "
    "that the operator will repay from ticket revenue over twenty years."
)
THREAD_SAFE_CACHE = (
    "Implement a thread-safe LRU cache in Python with a per-entry expiry time, plus unit tests "
    "and a benchmark comparing it with functools.lru_cache."
)


@pytest.mark.parametrize(
    ("text", "task_type", "complexity", "domain"),
    [
        (
            "Sketch the architecture of a multi-region payments ledger on Postgres with "
            "exactly-once settlement, and show the schema and the reconciliation job.",
            "coding",
            "complex",
            "backend",
        ),
        (
            "Put together a React hook that debounces a search box and cancels in-flight "
            "fetches, with tests.",
            "coding",
            "moderate",
            "frontend",
        ),
        (
            "Look into whether creatine supplementation helps cognition in older adults; weigh "
            "the trials and tell me how strong the evidence is.",
            "research",
            "complex",
            "general",
        ),
        (
            "Dream up a card game for four players about running a space station, with the "
            "full rules.",
            "creative",
            "complex",
            "general",
        ),
        (ARTICLE, "summarization", "moderate", "general"),
        ("What is the capital of France?", "research", "simple", "general"),
        (THREAD_SAFE_CACHE, "coding", "complex", "backend"),
    ],
    ids=["ledger", "react-hook", "creatine", "card-game", "article", "capital", "lru-cache"],
)
def test_issue_examples_get_their_labels(
    text: str, task_type: str, complexity: str, domain: str
) -> None:
    result = classify(text)
    assert (result.task_type, result.complexity, result.domain) == (task_type, complexity, domain)


def test_weighing_cloud_risks_is_analysis_and_not_cheap() -> None:
    result = classify(
        "Weigh the risks of letting one cloud vendor host all of our data, from lock-in to "
        "outages to regulation."
    )
    assert result.task_type == "analysis"
    assert result.cost_tier != "cheap"
    assert "reasoning" in result.capabilities


@pytest.mark.django_db
@pytest.mark.usefixtures("default_rules", "every_provider_usable")
@pytest.mark.parametrize(
    ("text", "model", "rule"),
    [
        ("What is the capital of France?", "claude-haiku-4-5", "cheap"),
        (THREAD_SAFE_CACHE, "claude-opus-4-6", "coding-complex"),
        (
            "Look into whether creatine supplementation helps cognition in older adults; weigh "
            "the trials and tell me how strong the evidence is.",
            "gpt-5.4",
            "research",
        ),
    ],
)
def test_issue_examples_reach_the_model_their_labels_call_for(
    alice: Any, text: str, model: str, rule: str
) -> None:
    decision = resolve(classify(text), user=alice, session=SessionRouting(), log=False)
    assert (decision.model, decision.rule) == (model, rule)


# ------------------------------------------------------------------------------ which tier


def test_a_clear_phrase_is_decided_by_the_rules() -> None:
    result = classify("Summarize this article in three bullet points:\n\n" + ARTICLE)
    verdict = result.verdict("task_type")
    assert verdict is not None
    assert (verdict.tier, verdict.reason) == ("rules", "clear cue")
    assert "task_type by rules" in " ".join(result.signals)


def test_a_message_without_a_cue_is_decided_by_the_model_with_its_confidence() -> None:
    result = classify("Sketch the architecture of a multi-region payments ledger on Postgres.")
    verdict = result.verdict("task_type")
    assert verdict is not None
    assert verdict.tier == "statistical"
    assert 0.0 < verdict.confidence <= 1.0
    assert verdict.reason.startswith("no task cue")
    assert result.tier in ("statistical", "mixed")


def test_small_talk_is_settled_by_the_rules_alone() -> None:
    result = classify("thanks!")
    assert result.tier == "rules"
    assert (result.task_type, result.complexity, result.cost_tier) == (
        "conversation",
        "simple",
        "cheap",
    )
    assert result.summary() == "conversation + simple"


def test_without_a_model_the_rules_decide_everything_and_say_so() -> None:
    rules_only = TieredClassifier(RuleBasedClassifier(), model=None)
    result = rules_only.classify("Sketch the architecture of a payments ledger on Postgres.")
    assert result.tier == "rules"
    verdict = result.verdict("task_type")
    assert verdict is not None
    assert verdict.reason == "no statistical model; rules default"
    assert verdict.confidence == 0.5


def test_to_dict_carries_tier_confidence_and_reasons() -> None:
    data = classify("Sketch the architecture of a payments ledger on Postgres.").to_dict()
    assert data["tier"] in ("statistical", "mixed")
    assert isinstance(data["confidence"], float)
    decided = data["decided_by"]
    assert isinstance(decided, dict)
    assert set(decided) == {"task_type", "complexity", "domain"}
    assert decided["task_type"]["tier"] == "statistical"


# ------------------------------------------------------------------------------ warnings


def prediction(probabilities: dict[str, float]) -> Prediction:
    ranked = sorted(probabilities, key=probabilities.__getitem__, reverse=True)
    return Prediction(
        label=ranked[0],
        confidence=probabilities[ranked[0]],
        runner_up=ranked[1],
        runner_up_confidence=probabilities[ranked[1]],
        probabilities=probabilities,
    )


def predictions(task: dict[str, float], complexity: dict[str, float]) -> dict[Field, Prediction]:
    return {
        "task_type": prediction(task),
        "complexity": prediction(complexity),
        "domain": prediction({"general": 0.9, "backend": 0.05, "frontend": 0.05}),
    }


NO_CUE = "Let's figure out the plan for the garden this spring."


def test_an_unsure_cheap_verdict_that_could_be_costly_says_so() -> None:
    verdict = RuleBasedClassifier().analyse(NO_CUE, ClassifierContext())
    result = combine(
        verdict,
        predictions(
            {"creative": 0.45, "coding": 0.40, "research": 0.15},
            {"moderate": 0.5, "complex": 0.3, "simple": 0.2},
        ),
    )
    assert result.task_type == "creative"
    assert result.warning == (
        "low confidence: could be coding + complex (a costlier model may be needed)"
    )
    assert result.summary().startswith("creative + moderate (statistical, 45% sure; low confidence")


def test_a_sure_verdict_carries_no_warning() -> None:
    verdict = RuleBasedClassifier().analyse(NO_CUE, ClassifierContext())
    result = combine(
        verdict,
        predictions({"creative": 0.9, "coding": 0.1}, {"moderate": 0.8, "simple": 0.2}),
    )
    assert result.warning == ""
    assert result.summary() == "creative + moderate (statistical, 80% sure)"


def test_small_talk_verdict_with_much_work_probability_is_not_sent_to_the_cheap_tier() -> None:
    verdict = RuleBasedClassifier().analyse(NO_CUE, ClassifierContext())
    result = combine(
        verdict,
        predictions(
            {"conversation": 0.55, "coding": 0.25, "analysis": 0.2},
            {"simple": 0.9, "moderate": 0.1},
        ),
    )
    assert (result.task_type, result.complexity, result.cost_tier) == (
        "conversation",
        "moderate",
        "standard",
    )
    assert "may ask for real work (45% coding/research/analysis)" in result.signals


def test_default_classifier_has_the_trained_model() -> None:
    assert isinstance(DEFAULT_CLASSIFIER, TieredClassifier)
    assert DEFAULT_CLASSIFIER.model is not None
