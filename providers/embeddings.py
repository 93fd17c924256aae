"""One embedding interface for all of Mosaic, whichever provider computes the vectors.

``EmbeddingService.from_settings()`` uses ``MOSAIC_EMBEDDING_PROVIDER`` (``ollama`` by default,
model ``nomic-embed-text``) or ``openai`` (any OpenAI-compatible ``/embeddings`` API), and checks
that every vector has ``MOSAIC_EMBEDDING_DIMS`` dimensions: the pgvector column has a fixed
size, so a model of another size must fail here, with a sentence that says what to change,
not deep inside an INSERT.

Embeddings are an installation-wide space (every user's memories are compared in it), so they
are computed with the installation's credential, never a user's own key. Where they go can be
set apart from chat with ``MOSAIC_EMBEDDING_BASE_URL`` / ``MOSAIC_EMBEDDING_API_KEY``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from core import env
from providers.adapters.base import ResolvedCredential
from providers.registry import PROVIDERS, get_adapter

DEFAULT_BATCH_SIZE = 64
EMBEDDING_PROVIDERS = ("ollama", "openai")


class EmbeddingError(Exception):
    """Embeddings cannot be computed as configured; the message says what to change."""


@dataclass(frozen=True, slots=True)
class EmbeddingService:
    provider: str
    model: str
    dims: int
    credential: ResolvedCredential
    batch_size: int = DEFAULT_BATCH_SIZE

    @classmethod
    def from_settings(cls) -> EmbeddingService:
        provider = str(settings.MOSAIC_EMBEDDING_PROVIDER)
        if provider not in EMBEDDING_PROVIDERS or provider not in PROVIDERS:
            raise EmbeddingError(
                f"MOSAIC_EMBEDDING_PROVIDER is {provider!r}; Mosaic computes embeddings with "
                f"{' or '.join(EMBEDDING_PROVIDERS)} (openai covers any OpenAI-compatible API "
                "through MOSAIC_EMBEDDING_BASE_URL)."
            )
        return cls(
            provider=provider,
            model=str(settings.MOSAIC_EMBEDDING_MODEL),
            dims=int(settings.MOSAIC_EMBEDDING_DIMS),
            credential=_credential(provider),
            batch_size=env.env_int("MOSAIC_EMBEDDING_BATCH_SIZE", DEFAULT_BATCH_SIZE, minimum=1),
        )

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; batched; each checked against ``dims``."""
        texts = list(texts)
        if not texts:
            return []
        adapter = get_adapter(self.provider)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            result = await adapter.embed(batch, self.model, self.credential)
            if len(result) != len(batch):
                raise EmbeddingError(
                    f"{self.provider} returned {len(result)} embeddings for {len(batch)} texts "
                    f"(model {self.model})."
                )
            for vector in result:
                self._check(vector)
            vectors.extend(result)
        return vectors

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return async_to_sync(self.aembed)(texts)

    def _check(self, vector: Sequence[float]) -> None:
        if len(vector) != self.dims:
            raise EmbeddingError(
                f"The embedding model {self.model} ({self.provider}) returned "
                f"{len(vector)}-dimensional vectors, but MOSAIC_EMBEDDING_DIMS is {self.dims}: "
                f"set MOSAIC_EMBEDDING_DIMS={len(vector)} (and re-embed stored memories), or "
                f"choose a model with {self.dims} dimensions."
            )


def _credential(provider: str) -> ResolvedCredential:
    """The installation's credential for embeddings, with the MOSAIC_EMBEDDING_* overrides."""
    from providers import services  # the ORM, only when the service is built

    base_url = env.env_url("MOSAIC_EMBEDDING_BASE_URL", "", schemes=("http", "https"))
    api_key = env.env_str("MOSAIC_EMBEDDING_API_KEY")
    if base_url and api_key:
        return ResolvedCredential(api_key=api_key, base_url=base_url, source="system")
    system = services.resolve_credential(user=None, provider=provider)
    return ResolvedCredential(
        api_key=api_key or system.api_key,
        access_token="" if api_key else system.access_token,
        base_url=base_url or system.base_url,
        extra_headers=dict(system.extra_headers),
        source="system",
    )


async def aembed(texts: Sequence[str]) -> list[list[float]]:
    """Embed with the configured service (built per call: settings and keys may change)."""
    service = await sync_to_async(EmbeddingService.from_settings)()
    return await service.aembed(texts)


def embed(texts: Sequence[str]) -> list[list[float]]:
    return EmbeddingService.from_settings().embed(texts)
