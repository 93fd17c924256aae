"""EmbeddingService: the bundled local model by default (no server, no network), Ollama and any
OpenAI-compatible API by configuration."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from core.errors import Unavailable
from mosaic.fakes.base import Fault, Script
from mosaic.fakes.ollama import FakeOllama
from mosaic.fakes.ollama import fake_embedding as ollama_vector
from mosaic.fakes.openai import FakeOpenAI
from providers import embeddings, local_embedder
from providers.embeddings import EmbeddingError, EmbeddingService
from providers.models import ProviderCredential
from tests.live import PROJECT_DIR

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


# --- the bundled local model ------------------------------------------------------------------


@pytest.fixture
def local(settings: Any) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    settings.MOSAIC_EMBEDDING_MODEL = ""
    settings.MOSAIC_EMBEDDING_DIMS = 0


def run_python(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh Python process of the project (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_with_nothing_configured_the_local_model_is_the_default() -> None:
    done = run_python(
        """
        import os
        for name in list(os.environ):
            if name.startswith("MOSAIC_EMBEDDING_"):
                del os.environ[name]
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
        import django
        django.setup()
        from providers.embeddings import configured_space
        print(configured_space())
        """
    )
    assert done.returncode == 0, done.stderr
    assert "('local', 'all-MiniLM-L6-v2', 384, False)" in done.stdout


@pytest.mark.usefixtures("local")
def test_local_vectors_are_384_unit_length_deterministic_and_mean_something() -> None:
    service = EmbeddingService.from_settings()
    assert (service.provider, service.model, service.dims, service.credential) == (
        "local", "all-MiniLM-L6-v2", 384, None,
    )  # fmt: skip
    assert service.space == "local:all-MiniLM-L6-v2"
    home, paraphrase, unrelated = service.embed(
        ["The user lives in Paris.", "User lives in Paris", "Quarterly revenue rose by 4%."]
    )
    assert len(home) == 384
    assert math.isclose(sum(x * x for x in home), 1.0, rel_tol=1e-4)
    assert cosine(home, paraphrase) > 0.9
    assert cosine(home, unrelated) < 0.3
    # The same text gives the same vector, alone or in a batch.
    assert service.embed(["The user lives in Paris."])[0] == pytest.approx(home, abs=1e-5)


@pytest.mark.usefixtures("local")
async def test_local_embedding_from_async_code() -> None:
    vectors = await embeddings.aembed(["async text", "another"])
    assert [len(v) for v in vectors] == [384, 384]


def test_the_local_embedder_needs_no_network_and_sets_hub_offline() -> None:
    """Run in a fresh process where every outbound connection fails loudly: any download
    attempt would show up as an exception or a recorded attempt."""
    done = run_python(
        """
        import os, socket
        attempts = []
        def refuse(self, address, *args, **kwargs):
            attempts.append(address)
            raise OSError("network disabled for this test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        os.environ.pop("HF_HUB_OFFLINE", None)
        from providers.local_embedder import LocalEmbedder
        vectors = LocalEmbedder().embed(["offline embedding works"])
        assert len(vectors[0]) == 384, len(vectors[0])
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        print("attempts", attempts)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "attempts []" in done.stdout


def test_a_process_that_never_embeds_never_loads_the_model_runtime() -> None:
    done = run_python(
        """
        import os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
        import django
        django.setup()
        import providers.embeddings, memory.selectors, memory.services, agents.tools
        from agents.tools import all_tools
        all_tools()
        loaded = sorted(m for m in ("onnxruntime", "tokenizers") if m in sys.modules)
        print("loaded", loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "loaded []" in done.stdout


def test_a_model_file_that_is_not_the_pinned_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_embedder, "ONNX_SHA256", "0" * 64)
    with pytest.raises(local_embedder.LocalEmbedderUnavailable, match="not the file Mosaic"):
        local_embedder.LocalEmbedder().embed(["x"])


def test_the_local_provider_runs_only_the_bundled_model(settings: Any) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    settings.MOSAIC_EMBEDDING_MODEL = "bge-small-en"
    with pytest.raises(EmbeddingError, match="runs only the bundled all-MiniLM-L6-v2"):
        EmbeddingService.from_settings()


@pytest.mark.parametrize(
    ("provider", "model", "dims"),
    [
        ("ollama", "", 768),  # nomic-embed-text, the provider's default
        ("ollama", "mxbai-embed-large", 1024),
        ("openai", "", 1536),  # text-embedding-3-small
    ],
)
def test_the_size_follows_the_model_when_not_set(
    settings: Any, provider: str, model: str, dims: int
) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = provider
    settings.MOSAIC_EMBEDDING_MODEL = model
    settings.MOSAIC_EMBEDDING_DIMS = 0
    provider_, _, dims_, explicit = embeddings.configured_space()
    assert (provider_, dims_, explicit) == (provider, dims, False)


def test_an_unknown_models_size_must_be_set(settings: Any) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "openai"
    settings.MOSAIC_EMBEDDING_MODEL = "my-custom-embedder"
    settings.MOSAIC_EMBEDDING_DIMS = 0
    with pytest.raises(EmbeddingError, match="set MOSAIC_EMBEDDING_DIMS"):
        embeddings.configured_space()


def test_ollama_down_is_an_unavailable_embedding_error(ollama: FakeOllama) -> None:
    ollama.script(Script(fault=Fault(kind="status", status=503, body={"error": "loading"})))
    with pytest.raises(EmbeddingError, match="unavailable") as excinfo:
        EmbeddingService.from_settings().embed(["hello"])
    assert isinstance(excinfo.value, Unavailable)
