"""The vector column follows the configured embedding model: an empty store adopts it, a full
one refuses a different model until ``manage.py reembed`` has moved every insight over (in
resumable batches, with a progress bar), and vectors of two models never share the column."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from core.errors import Conflict
from memory import selectors, services, space
from memory.models import EmbeddingSpace, Insight
from mosaic.fakes.ollama import FakeOllama
from mosaic.fakes.ollama import fake_embedding as ollama_vector
from providers import local_embedder
from providers.embeddings import EmbeddingError, EmbeddingService

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]


@pytest.fixture
def use_ollama(settings: Any, fake_ollama: FakeOllama) -> FakeOllama:
    """Switch the configuration to Ollama's nomic-embed-text (768 dimensions), served by the
    fake Ollama."""

    def switch() -> FakeOllama:
        settings.OLLAMA_BASE_URL = fake_ollama.base_url
        settings.MOSAIC_EMBEDDING_PROVIDER = "ollama"
        settings.MOSAIC_EMBEDDING_MODEL = "nomic-embed-text"
        return fake_ollama

    fake_ollama.switch = switch  # type: ignore[attr-defined]
    return fake_ollama


def definition(index: str) -> str:
    """An index's definition ("" when there is none)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index])
        row = cursor.fetchone()
    return row[0] if row else ""


def index_definition() -> str:
    return definition(space.hnsw_index().name)


def covering_index() -> str:
    return definition(space.COVERING_INDEX)


def test_the_bundled_models_column_has_the_covering_index_of_each_users_vectors() -> None:
    assert space.column_dims() == local_embedder.DIMS
    assert "(user_id) INCLUDE (id, category, tier, embedding)" in covering_index()


def test_an_empty_store_adopts_the_configured_models_size(alice: Any, use_ollama: Any) -> None:
    assert covering_index()
    use_ollama.switch()
    services.insight_save(user=alice, content="The user speaks Basque.")
    assert space.column_dims() == 768
    row = EmbeddingSpace.objects.get()
    assert (row.provider, row.model, row.dims) == ("ollama", "nomic-embed-text", 768)
    stored = Insight.objects.get(user=alice)
    assert list(stored.embedding) == pytest.approx(ollama_vector("The user speaks Basque.", 768))
    assert "hnsw" in index_definition()
    assert "vector_cosine_ops" in index_definition()
    # 768 dimensions do not fit a B-tree entry: the exact search reads the table instead.
    assert covering_index() == ""


def test_a_store_with_insights_refuses_another_model_until_reembedded(
    alice: Any, use_ollama: Any
) -> None:
    services.insight_save(user=alice, content="The user speaks Basque.")
    use_ollama.switch()
    with pytest.raises(Conflict, match="reembed"):
        services.insight_save(user=alice, content="The user rows on Sundays.")
    with pytest.raises(Conflict, match="reembed"):
        selectors.insight_search(user=alice, text="languages")
    assert Insight.objects.count() == 1
    assert space.column_dims() == local_embedder.DIMS


def test_reembed_moves_every_insight_to_the_new_model(
    alice: Any, bob: Any, use_ollama: Any
) -> None:
    texts = {
        alice: ["The user speaks Basque.", "The user rows on Sundays.", "The user has a tabby."],
        bob: ["The user writes COBOL.", "The user lives on a boat."],
    }
    for user, contents in texts.items():
        for content in contents:
            services.insight_save(user=user, content=content)
    fake = use_ollama.switch()
    out = io.StringIO()
    call_command("reembed", batch_size=2, stdout=out)
    output = out.getvalue()
    assert "Stored vectors: local:all-MiniLM-L6-v2 (384 dimensions)" in output
    assert "Configured model: ollama:nomic-embed-text (768 dimensions)" in output
    assert "[" + "#" * 30 + "] 5/5 insights (100%)" in output
    assert "Done: 5 insights re-embedded" in output
    # In batches of two, and each insight once.
    batches = [r.json["input"] for r in fake.requests if r.path == "/api/embed"]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(t for b in batches for t in b) == sorted(t for ts in texts.values() for t in ts)
    assert space.column_dims() == 768
    for insight in Insight.objects.all():
        assert list(insight.embedding) == pytest.approx(ollama_vector(insight.content, 768))
    assert "hnsw" in index_definition()
    assert covering_index() == ""  # dropped with the old column, and too big for the new one
    row = EmbeddingSpace.objects.get()
    assert (row.space, row.dims, row.next_model) == ("ollama:nomic-embed-text", 768, "")
    # Search and saving work again, with the new model, for each user's own rows only.
    found = selectors.insight_search(user=bob, text="The user lives on a boat.", k=5)
    assert found[0].insight.content == "The user lives on a boat."
    assert {r.insight.user_id for r in found} == {bob.pk}
    assert services.insight_save(user=alice, content="The user knits.").created


def test_reembed_into_a_smaller_model_builds_its_covering_index_before_the_swap(
    alice: Any, bob: Any, use_ollama: Any, settings: Any
) -> None:
    use_ollama.switch()
    for user, content in [(alice, "The user speaks Basque."), (bob, "The user lives on a boat.")]:
        services.insight_save(user=user, content=content)
    assert covering_index() == ""
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    settings.MOSAIC_EMBEDDING_MODEL = ""
    service = EmbeddingService.from_settings()
    assert space.reembed_start(service)
    assert space.reembed_batch(service, 10) == 2
    space.reembed_build_index()
    shadow = definition(space.SHADOW_COVERING_INDEX)
    assert f"INCLUDE (id, category, tier, {space.SHADOW})" in shadow
    space.reembed_finish(service)
    assert space.column_dims() == local_embedder.DIMS
    assert "INCLUDE (id, category, tier, embedding)" in covering_index()
    found = selectors.insight_search(user=bob, text="The user lives on a boat.", k=5)
    assert [r.insight.content for r in found] == ["The user lives on a boat."]


def test_an_interrupted_reembed_resumes_where_it_stopped(alice: Any, use_ollama: Any) -> None:
    contents = [
        "The user speaks Basque.", "The user rows on Sundays.", "The user has a tabby cat.",
        "The user writes COBOL at work.", "The user lives on a boat.",
    ]  # fmt: skip
    for content in contents:
        services.insight_save(user=alice, content=content)
    fake = use_ollama.switch()
    service = EmbeddingService.from_settings()
    assert space.reembed_start(service)
    assert space.reembed_batch(service, 3) == 3  # ... and then the process died
    with pytest.raises(Conflict, match="being re-embedded"):
        services.insight_save(user=alice, content="The user collects stamps.")
    with pytest.raises(Conflict, match="reembed"):  # the configured model is not the stored one
        selectors.insight_search(user=alice, text="boats", k=5)
    fake.requests.clear()
    out = io.StringIO()
    call_command("reembed", stdout=out)
    assert "3/5 insights" in out.getvalue()
    [request] = [r for r in fake.requests if r.path == "/api/embed"]
    assert len(request.json["input"]) == 2  # only what the first run had not done
    assert space.column_dims() == 768
    assert Insight.objects.count() == 5


def test_reembed_with_the_model_already_in_use_does_nothing(alice: Any) -> None:
    services.insight_save(user=alice, content="The user speaks Basque.")
    out = io.StringIO()
    call_command("reembed", stdout=out)
    assert "Nothing to re-embed" in out.getvalue()
    assert space.column_dims() == local_embedder.DIMS


def test_reembed_refuses_a_model_too_big_for_the_index(alice: Any, settings: Any) -> None:
    services.insight_save(user=alice, content="The user speaks Basque.")
    settings.MOSAIC_EMBEDDING_PROVIDER = "openai"
    settings.MOSAIC_EMBEDDING_MODEL = "text-embedding-3-large"
    settings.MOSAIC_EMBEDDING_DIMS = 3072
    with pytest.raises(CommandError, match="at most 2000"):
        call_command("reembed", stdout=io.StringIO())
    assert space.column_dims() == local_embedder.DIMS


def test_a_vector_of_the_wrong_size_never_reaches_the_column(alice: Any, settings: Any) -> None:
    services.insight_save(user=alice, content="The user speaks Basque.")
    settings.MOSAIC_EMBEDDING_DIMS = 768  # says 768, but the local model gives 384
    with pytest.raises(EmbeddingError, match="MOSAIC_EMBEDDING_DIMS is 768"):
        services.insight_save(user=alice, content="The user rows.")
    assert Insight.objects.count() == 1


def test_an_index_left_invalid_by_an_interrupted_build_is_built_again(
    alice: Any, use_ollama: Any, settings: Any
) -> None:
    use_ollama.switch()
    services.insight_save(user=alice, content="The user speaks Basque.")
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    settings.MOSAIC_EMBEDDING_MODEL = ""
    service = EmbeddingService.from_settings()
    assert space.reembed_start(service)
    space.reembed_batch(service, 10)
    space.reembed_build_index()
    # What a CREATE INDEX CONCURRENTLY that was stopped half-way leaves behind.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = ANY(ARRAY[%s, %s]::regclass[])",
            [space.SHADOW_INDEX, space.SHADOW_COVERING_INDEX],
        )
    space.reembed_build_index()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = ANY(%s)",
            [[space.SHADOW_INDEX, space.SHADOW_COVERING_INDEX]],
        )
        assert dict(cursor.fetchall()) == {
            space.SHADOW_INDEX: True,
            space.SHADOW_COVERING_INDEX: True,
        }
    space.reembed_finish(service)
    assert "INCLUDE (id, category, tier, embedding)" in covering_index()
