"""EmbeddingService: Ollama by default, any OpenAI-compatible API as the alternative."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mosaic.fakes.ollama import FakeOllama
from mosaic.fakes.ollama import fake_embedding as ollama_vector
from mosaic.fakes.openai import FakeOpenAI
from providers import embeddings
from providers.embeddings import EmbeddingError, EmbeddingService
from providers.models import ProviderCredential

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_provider_env")]


@pytest.fixture
def ollama(settings: Any, fake_ollama: FakeOllama) -> FakeOllama:
    settings.OLLAMA_BASE_URL = fake_ollama.base_url
    settings.MOSAIC_EMBEDDING_PROVIDER = "ollama"
    settings.MOSAIC_EMBEDDING_MODEL = "nomic-embed-text"
    settings.MOSAIC_EMBEDDING_DIMS = 768
    return fake_ollama


def embed_requests(fake: Any, path: str) -> list[Any]:
    return [r for r in fake.requests if r.path == path]


def test_ollama_embeds_with_the_configured_model(ollama: FakeOllama) -> None:
    vectors = EmbeddingService.from_settings().embed(["hello", "world"])
    assert len(vectors) == 2
    assert all(len(v) == 768 for v in vectors)
    assert vectors[0] == pytest.approx(ollama_vector("hello", 768))
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-6)
    [request] = embed_requests(ollama, "/api/embed")
    assert request.json["model"] == "nomic-embed-text"
    assert request.json["input"] == ["hello", "world"]


def test_texts_are_sent_in_batches_and_come_back_in_order(
    ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOSAIC_EMBEDDING_BATCH_SIZE", "2")
    texts = [f"text {i}" for i in range(5)]
    vectors = embeddings.embed(texts)
    assert [r.json["input"] for r in embed_requests(ollama, "/api/embed")] == [
        ["text 0", "text 1"],
        ["text 2", "text 3"],
        ["text 4"],
    ]
    assert vectors == [pytest.approx(ollama_vector(t, 768)) for t in texts]


def test_no_texts_means_no_request(ollama: FakeOllama) -> None:
    assert embeddings.embed([]) == []
    assert not ollama.requests


def test_a_dimension_mismatch_is_a_clear_error(ollama: FakeOllama, settings: Any) -> None:
    settings.MOSAIC_EMBEDDING_DIMS = 1024
    with pytest.raises(EmbeddingError) as excinfo:
        embeddings.embed(["hello"])
    message = str(excinfo.value)
    assert "768-dimensional" in message
    assert "MOSAIC_EMBEDDING_DIMS is 1024" in message


async def test_async_embedding(ollama: FakeOllama) -> None:
    from asgiref.sync import sync_to_async

    service = await sync_to_async(EmbeddingService.from_settings)()
    vectors = await service.aembed(["async text"])
    assert vectors == [pytest.approx(ollama_vector("async text", 768))]


def test_openai_compatible_embeddings_with_their_own_url_and_key(
    settings: Any, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "openai"
    settings.MOSAIC_EMBEDDING_MODEL = "text-embedding-3-small"
    settings.MOSAIC_EMBEDDING_DIMS = 1536
    monkeypatch.setenv("MOSAIC_EMBEDDING_BASE_URL", fake_openai.base_url + "/v1")
    monkeypatch.setenv("MOSAIC_EMBEDDING_API_KEY", "sk-embeddings-only")
    vectors = embeddings.embed(["a", "b", "c"])
    assert [len(v) for v in vectors] == [1536, 1536, 1536]
    [request] = fake_openai.embedding_requests()
    assert request.json["model"] == "text-embedding-3-small"
    assert request.headers["authorization"] == "Bearer sk-embeddings-only"


def test_openai_embeddings_use_the_system_credential_never_a_users(
    settings: Any, fake_openai: FakeOpenAI, alice: Any
) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "openai"
    settings.MOSAIC_EMBEDDING_MODEL = "text-embedding-3-small"
    settings.MOSAIC_EMBEDDING_DIMS = 1536
    settings.OPENAI_BASE_URL = fake_openai.base_url + "/v1"
    ProviderCredential.objects.create(
        owner=alice, provider="openai", api_key="sk-alice-000000000000000"
    )
    settings.OPENAI_API_KEY = "sk-system-openai-0000000000"
    embeddings.embed(["x"])
    [request] = fake_openai.embedding_requests()
    assert request.headers["authorization"] == "Bearer sk-system-openai-0000000000"


def test_an_unsupported_embedding_provider_is_refused(settings: Any) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "anthropic"
    with pytest.raises(EmbeddingError, match="MOSAIC_EMBEDDING_PROVIDER"):
        EmbeddingService.from_settings()
