"""Extraction end to end: the task goes through the real Redis broker to a real Celery worker,
which asks the fake Anthropic upstream (the cheap model routing picks) and writes the memories
to the test database with the bundled local embedder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from agents.tasks import extract_memories
from conversations import services as conversation_services
from memory.models import ExtractionMark, Insight, Preference
from mosaic.fakes.base import Script
from tests.live import start_celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_worker_extracts_and_saves_memories(
    alice: Any, bob: Any, upstreams: dict[str, str], fake_anthropic: Any, tmp_path: Path
) -> None:
    found = {
        "insights": [{"content": "The user is a nurse in Porto.", "category": "fact"}],
        "preferences": [{"key": "language", "value": "Portuguese"}],
    }
    fake_anthropic.default_script = Script(text=json.dumps(found))
    conversation = conversation_services.conversation_create(user=alice)
    conversation_services.message_persist_user(
        user=alice, conversation_id=conversation.pk, content="I'm a nurse in Porto. Em português!"
    )
    worker = start_celery_worker(tmp_path, upstreams)
    try:
        extract_memories.delay(alice.pk, str(conversation.pk), False)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not ExtractionMark.objects.exists():
            time.sleep(0.2)
        assert ExtractionMark.objects.exists(), worker.log()[-3000:]
    finally:
        worker.stop()
    insight = Insight.objects.get()
    assert (insight.user_id, insight.content, insight.source) == (
        alice.pk, "The user is a nurse in Porto.", "extracted",
    )  # fmt: skip
    assert len(insight.embedding) == 384
    assert Preference.objects.get().user_id == alice.pk
    assert not Insight.objects.filter(user=bob).exists()
    [request] = [r for r in fake_anthropic.chat_requests() if "nurse" in json.dumps(r.json)]
    assert request.json["model"] == "claude-haiku-4-5"
