"""Fixtures for the memory app: the local embedder (the default), and helpers to write vectors
directly when a test is about search rather than about embedding.

The cast comes from tests/conftest.py (alice, bob, charlie, staff, alice_api, bob_api).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import pytest

from memory.models import EmbeddingSpace, Insight
from providers import local_embedder


@pytest.fixture
def local_embeddings(settings: Any) -> None:
    """The zero-configuration embedder: the bundled MiniLM model, 384 dimensions."""
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    settings.MOSAIC_EMBEDDING_MODEL = ""
    settings.MOSAIC_EMBEDDING_DIMS = 0


def unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def random_unit(rng: random.Random, dims: int = local_embedder.DIMS) -> list[float]:
    return unit([rng.gauss(0.0, 1.0) for _ in range(dims)])


def record_local_space() -> None:
    """Say the column holds local-model vectors, as the first save would."""
    EmbeddingSpace.objects.get_or_create(
        provider="local", model=local_embedder.MODEL, dims=local_embedder.DIMS
    )


def bulk_insights(user: Any, vectors: Sequence[Sequence[float]], **fields: Any) -> list[Insight]:
    record_local_space()
    return Insight.objects.bulk_create(
        Insight(user=user, content=f"note {i}", embedding=list(v), **fields)
        for i, v in enumerate(vectors)
    )
