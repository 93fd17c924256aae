"""Automatic extraction: the cheap model (routing's choice through ``agents.completion``, served by
the fake upstreams) is asked for the durable facts and preferences the user stated, and they are
saved with dedup; each stretch of a conversation is read once; the user can turn it off."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.tasks import ask_for_memories, extract_memories
from conversations import services as conversation_services
from conversations.models import Message
from memory import extraction, services
from memory.extraction import EXTRACTION_PROMPT
from memory.models import ExtractionMark, Insight, Preference
from mosaic.fakes.base import Fault, Script
from routing import cache
from tests.conftest import seed_reference_data

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("local_embeddings", "default_rules", "upstreams"),
]

FOUND = {
    "insights": [
        {"content": "The user is a nurse in Porto.", "category": "fact", "importance": 0.8},
        {"content": "The user is training for a half marathon.", "category": "goal"},
        {"content": "", "category": "fact"},  # invalid: dropped, counted
    ],
    "preferences": [
        {"key": "language", "value": "Portuguese"},
        {"key": "answer_style", "value": "short bullet points"},
    ],
}


@pytest.fixture
def default_rules(db: None) -> None:
    seed_reference_data()
    cache.invalidate_local_cache()


def insights_extract(**kwargs: Any) -> extraction.ExtractionOutcome:
    return extraction.insights_extract(complete=ask_for_memories, **kwargs)


def conversation_with(user: Any, *exchanges: tuple[str, str]) -> Any:
    conversation = conversation_services.conversation_create(user=user)
    for said, answered in exchanges:
        conversation_services.message_persist_user(
            user=user, conversation_id=conversation.pk, content=said
        )
        conversation_services.messages_append(
            user=user,
            conversation_id=conversation.pk,
            drafts=[conversation_services.MessageDraft(role="assistant", content=answered)],
        )
    return conversation


def test_facts_and_preferences_are_extracted_by_the_cheap_model_and_saved(
    alice: Any, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="```json\n" + json.dumps(FOUND) + "\n```"))
    conversation = conversation_with(
        alice,
        ("I'm a nurse in Porto, answer in Portuguese please.", "Claro!"),
        ("I'm training for a half marathon. Keep answers short, bullet points.", "Okay."),
    )
    outcome = insights_extract(user=alice, conversation_id=conversation.pk)

    [request] = fake_anthropic.chat_requests()
    assert request.json["model"] == "claude-haiku-4-5"
    system = request.json["system"]
    system_text = system if isinstance(system, str) else "".join(b["text"] for b in system)
    assert system_text == EXTRACTION_PROMPT
    sent = json.dumps(request.json["messages"])
    assert "USER: I'm a nurse in Porto" in sent
    assert "ASSISTANT: Okay." in sent

    assert (outcome.saved, outcome.merged, outcome.preferences, outcome.rejected) == (2, 0, 2, 1)
    rows = {i.content: i for i in Insight.objects.filter(user=alice)}
    assert set(rows) == {
        "The user is a nurse in Porto.",
        "The user is training for a half marathon.",
    }
    nurse = rows["The user is a nurse in Porto."]
    assert (nurse.source, nurse.importance, nurse.source_conversation_id) == (
        "extracted", 0.8, conversation.pk,
    )  # fmt: skip
    last_user = Message.objects.filter(conversation=conversation, role="user").last()
    assert last_user is not None
    assert nurse.source_message_id == last_user.pk
    assert dict(Preference.objects.filter(user=alice).values_list("key", "value")) == {
        "language": "Portuguese",
        "answer_style": "short bullet points",
    }
    assert ExtractionMark.objects.get(conversation=conversation).through_sequence == 4


def test_each_stretch_is_read_once_and_repeated_facts_merge(
    alice: Any, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text=json.dumps(FOUND)))
    conversation = conversation_with(alice, ("I'm a nurse in Porto.", "Nice."))
    insights_extract(user=alice, conversation_id=conversation.pk)
    second = insights_extract(user=alice, conversation_id=conversation.pk)
    assert second.skipped == "nothing new"
    assert len(fake_anthropic.chat_requests()) == 1

    conversation_services.message_persist_user(
        user=alice, conversation_id=conversation.pk, content="As I said, I'm a nurse in Porto."
    )
    fake_anthropic.script(
        Script(text=json.dumps({"insights": [{"content": "User is a nurse in Porto"}]}))
    )
    third = insights_extract(user=alice, conversation_id=conversation.pk)
    assert (third.saved, third.merged) == (0, 1)
    later = fake_anthropic.chat_requests()[-1]
    sent = json.dumps(later.json["messages"])
    assert "As I said" in sent
    assert "Nice." not in sent  # only what came after the mark
    assert Insight.objects.filter(user=alice).count() == 2


def test_a_preference_the_user_set_is_not_overwritten(alice: Any, fake_anthropic: Any) -> None:
    services.preference_set(user=alice, key="language", value="English")
    fake_anthropic.script(Script(text=json.dumps(FOUND)))
    insights_extract(user=alice, conversation_id=conversation_with(alice, ("Olá", "Olá")).pk)
    assert Preference.objects.get(user=alice, key="language").value == "English"
    assert Preference.objects.get(user=alice, key="answer_style").source == "extracted"


def test_turned_off_means_no_model_call_and_nothing_saved(alice: Any, fake_anthropic: Any) -> None:
    services.memory_settings_update(user=alice, auto_extract=False)
    conversation = conversation_with(alice, ("I'm a nurse in Porto.", "Nice."))
    assert insights_extract(user=alice, conversation_id=conversation.pk).skipped == "disabled"
    assert fake_anthropic.chat_requests() == []
    assert not Insight.objects.exists()


def test_an_unparsable_answer_saves_nothing_but_moves_on(alice: Any, fake_anthropic: Any) -> None:
    fake_anthropic.script(Script(text="Sorry, I can't help with that."))
    conversation = conversation_with(alice, ("I'm a nurse in Porto.", "Nice."))
    outcome = insights_extract(user=alice, conversation_id=conversation.pk)
    assert (outcome.saved, outcome.preferences) == (0, 0)
    assert not Insight.objects.exists()
    assert ExtractionMark.objects.get(conversation=conversation).through_sequence == 2


def test_a_provider_failure_fails_over_down_routings_chain(
    alice: Any, fake_anthropic: Any, fake_openai: Any
) -> None:
    fake_anthropic.script(Script(fault=Fault(kind="status", status=401)))
    fake_openai.script(Script(text=json.dumps(FOUND)))
    conversation = conversation_with(alice, ("I'm a nurse in Porto.", "Nice."))
    outcome = insights_extract(user=alice, conversation_id=conversation.pk)
    assert outcome.saved == 2
    [request] = fake_openai.chat_requests()
    assert request.json["model"] == "gpt-5.4-nano"


def test_a_conversation_still_in_use_waits_when_idleness_is_required(
    alice: Any, fake_anthropic: Any
) -> None:
    conversation = conversation_with(alice, ("I'm a nurse in Porto.", "Nice."))
    outcome = insights_extract(user=alice, conversation_id=conversation.pk, require_idle=True)
    assert outcome.skipped == "not idle"
    assert fake_anthropic.chat_requests() == []


def test_another_users_conversation_is_not_found(alice: Any, bob: Any) -> None:
    from core.errors import NotFound

    bobs = conversation_with(bob, ("I'm a nurse in Porto.", "Nice."))
    with pytest.raises(NotFound):
        insights_extract(user=alice, conversation_id=bobs.pk)
    assert extract_memories(alice.pk, str(bobs.pk)) == "conversation gone"
    assert not Insight.objects.exists()


def test_the_task_delegates_with_ids(alice: Any, fake_anthropic: Any, settings: Any) -> None:
    settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS = 0
    fake_anthropic.script(Script(text=json.dumps(FOUND)))
    conversation = conversation_with(alice, ("I'm a nurse in Porto.", "Nice."))
    assert extract_memories(alice.pk, str(conversation.pk)) == "saved 2, merged 0"
    assert extract_memories(10**9, str(conversation.pk)) == "user gone"


def test_parse_reply_keeps_only_objects_and_at_most_ten() -> None:
    many = {"insights": [{"content": f"fact {i}"} for i in range(15)] + ["junk"], "preferences": 3}
    parsed = extraction.parse_reply("Here you go: " + json.dumps(many) + " Done.")
    assert len(parsed.insights) == 10
    assert parsed.preferences == []
    assert extraction.parse_reply("{not json") == extraction.Extracted([], [])
