"""Re-embed every stored insight with the configured embedding model.

Run it after changing ``MOSAIC_EMBEDDING_PROVIDER``/``_MODEL``/``_DIMS`` on an installation that
already has memories (``mosaic manage reembed``). It fills a shadow column in batches, each
committed, so an interrupted run resumes where it stopped when started again; the column is
swapped and the HNSW index rebuilt at the end, in one transaction. Until then search keeps using
the old vectors, and saving new insights waits (it answers "being re-embedded"). See
docs/memory.md.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import MosaicError
from memory import space
from providers.embeddings import EmbeddingService

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Re-embed every stored insight with the configured embedding model (resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=256, help="insights per batch")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = max(1, int(options["batch_size"]))
        try:
            service = EmbeddingService.from_settings()
            stored = space.current()
            self.stdout.write(
                f"Stored vectors: {stored.space} ({stored.dims} dimensions)"
                if stored
                else "Stored vectors: none recorded"
            )
            self.stdout.write(f"Configured model: {service.space} ({service.dims} dimensions)")
            started = time.monotonic()
            progress = space.reembed(service, batch_size=batch_size, on_progress=self._bar)
        except MosaicError as exc:
            raise CommandError(exc.message) from None
        if self._drawn:
            self.stdout.write("")
        if not self._drawn:
            self.stdout.write(self.style.SUCCESS("Nothing to re-embed: the store already uses it."))
            return
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {progress.total:,} insights re-embedded with {service.space} in "
                f"{seconds:.1f} s; the HNSW index was rebuilt."
            )
        )

    _drawn = False

    def _bar(self, progress: space.ReembedProgress) -> None:
        share = progress.done / progress.total if progress.total else 1.0
        filled = int(share * BAR_WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{progress.done:,}/{progress.total:,} insights ({share:.0%})"
        )
        # A redrawn line on a terminal; one line per step in a log file.
        ending = "\r" if self.stdout.isatty() else "\n"
        self.stdout.write(line, ending=ending)
        self._drawn = True
