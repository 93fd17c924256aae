"""One embedding interface for all of Mosaic, whichever engine computes the vectors.

``EmbeddingService.from_settings()`` reads ``MOSAIC_EMBEDDING_PROVIDER``:

- ``local`` (the default): the bundled all-MiniLM-L6-v2 int8 ONNX model (384 dimensions), run
  in this process by ``providers.local_embedder``; no server, no network, no key.
- ``ollama``: Ollama's ``/api/embed`` (``nomic-embed-text``, 768 dimensions, by default).
- ``openai``: any OpenAI-compatible ``/embeddings`` API (``text-embedding-3-small`` by default).

``MOSAIC_EMBEDDING_MODEL`` empty means the provider's default model, and
``MOSAIC_EMBEDDING_DIMS`` 0 means that model's known size. Every vector is checked against the
expected size: the pgvector column has a fixed size, so a model of another size must fail here,
with a sentence that says what to change, not deep inside an INSERT. ``space`` names the vector
space (``provider:model``): vectors of two spaces are never compared, even of equal size.

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
from core.errors import Unavailable
from providers import local_embedder
from providers.adapters.base import ProviderError, ResolvedCredential
from providers.registry import PROVIDERS, get_adapter

DEFAULT_BATCH_SIZE = 64
LOCAL = "local"
EMBEDDING_PROVIDERS = (LOCAL, "ollama", "openai")
DEFAULT_MODELS = {
    LOCAL: local_embedder.MODEL,
    "ollama": "nomic-embed-text",
    "openai": "text-embedding-3-small",
}


class EmbeddingError(Unavailable):
    """Embeddings cannot be computed as configured, or not now; the message says why."""


@dataclass(frozen=True, slots=True)
class EmbeddingService:
    provider: str
    model: str
    dims: int
    credential: ResolvedCredential | None = None  # None for the local embedder
    batch_size: int = DEFAULT_BATCH_SIZE
    dims_from_settings: bool = False
    threads: int = 1

    @property
    def space(self) -> str:
        """The vector space's name; vectors are comparable only within one space."""
        return f"{self.provider}:{self.model}"

    @classmethod
    def from_settings(cls) -> EmbeddingService:
        provider, model, dims, explicit = configured_space()
        return cls(
            provider=provider,
            model=model,
            dims=dims,
            credential=None if provider == LOCAL else _credential(provider),
            batch_size=env.env_int("MOSAIC_EMBEDDING_BATCH_SIZE", DEFAULT_BATCH_SIZE, minimum=1),
            dims_from_settings=explicit,
            threads=int(settings.MOSAIC_EMBEDDING_THREADS),
        )

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; batched; each checked against ``dims``."""
        texts = list(texts)
        if not texts:
            return []
        if self.provider == LOCAL:
            # CPU-bound: off the event loop, in a thread of its own.
            return await sync_to_async(self._embed_local, thread_sensitive=False)(texts)
        adapter = get_adapter(self.provider)
        assert self.credential is not None
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                result = await adapter.embed(batch, self.model, self.credential)
            except ProviderError as error:
                raise EmbeddingError(
                    f"The embedding model {self.model} ({self.provider}) is unavailable: "
                    f"{error.message}"
                ) from error
            self._check_all(batch, result)
            vectors.extend(result)
        return vectors

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.provider == LOCAL:
            return self._embed_local(list(texts))
        return async_to_sync(self.aembed)(texts)

    def _embed_local(self, texts: list[str]) -> list[list[float]]:
        embedder = local_embedder.get_local_embedder(self.threads)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                result = embedder.embed(batch)
            except local_embedder.LocalEmbedderUnavailable as error:
                raise EmbeddingError(str(error)) from error
            self._check_all(batch, result)
            vectors.extend(result)
        return vectors

    def _check_all(self, batch: Sequence[str], result: Sequence[Sequence[float]]) -> None:
        if len(result) != len(batch):
            raise EmbeddingError(
                f"{self.provider} returned {len(result)} embeddings for {len(batch)} texts "
                f"(model {self.model})."
            )
        for vector in result:
            self._check(vector)

    def _check(self, vector: Sequence[float]) -> None:
        if len(vector) == self.dims:
            return
        if self.dims_from_settings:
            expected = f"MOSAIC_EMBEDDING_DIMS is {self.dims}"
        else:
            expected = f"Mosaic expected {self.dims} for this model"
        raise EmbeddingError(
            f"The embedding model {self.model} ({self.provider}) returned "
            f"{len(vector)}-dimensional vectors, but {expected}: set "
            f"MOSAIC_EMBEDDING_DIMS={len(vector)} (and re-embed stored memories with "
            f"`mosaic manage reembed`), or choose a model with {self.dims} dimensions."
        )


def configured_space() -> tuple[str, str, int, bool]:
    """``(provider, model, dims, dims_set_explicitly)`` from the settings, without any I/O."""
    provider = str(settings.MOSAIC_EMBEDDING_PROVIDER)
    if provider not in EMBEDDING_PROVIDERS or (provider != LOCAL and provider not in PROVIDERS):
        raise EmbeddingError(
            f"MOSAIC_EMBEDDING_PROVIDER is {provider!r}; Mosaic computes embeddings with "
            f"{', '.join(EMBEDDING_PROVIDERS)} (local is the bundled model; openai covers any "
            "OpenAI-compatible API through MOSAIC_EMBEDDING_BASE_URL)."
        )
    model = str(settings.MOSAIC_EMBEDDING_MODEL) or DEFAULT_MODELS[provider]
    if provider == LOCAL and model != local_embedder.MODEL:
        raise EmbeddingError(
            f"MOSAIC_EMBEDDING_MODEL is {model!r}, but the local embedder runs only the bundled "
            f"{local_embedder.MODEL}; serve other models with Ollama or an OpenAI-compatible API."
        )
    explicit = int(settings.MOSAIC_EMBEDDING_DIMS)
    if explicit > 0:
        return provider, model, explicit, True
    dims = known_dims(provider, model)
    if dims is None:
        raise EmbeddingError(
            f"Mosaic does not know how many dimensions {model!r} ({provider}) returns: set "
            "MOSAIC_EMBEDDING_DIMS."
        )
    return provider, model, dims, False


def known_dims(provider: str, model: str) -> int | None:
    if provider == LOCAL:
        return local_embedder.DIMS
    from providers import catalog
    from providers.adapters.ollama import KNOWN_EMBEDDING_DIMS

    spec = catalog.get_spec(provider, model)
    if spec is not None and spec.embedding_dims:
        return int(spec.embedding_dims)
    if provider == "ollama":
        return KNOWN_EMBEDDING_DIMS.get(model.removesuffix(":latest"))
    return None


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
