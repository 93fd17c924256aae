"""The rule tier's phrase tables, compiled into a dictionary keyed by first token.

The tables themselves are data (``routing/data/phrases.json``): each group is a list of phrases
with one meaning (a vote for a task type, a push on the complexity score, a vote for a domain, a
capability, or a flag a decision step asks about). This module loads them once at import and
looks them up in one pass over the tokens of a text, so the cost of a scan does not grow with
the number of phrases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).with_name("data")
PHRASES_PATH = DATA_DIR / "phrases.json"
CONCEPTS_PATH = DATA_DIR / "concepts.json"
_PREFIX_KEY = 4

# Words, with the joiners that keep file names, versions and contractions in one token
# ("engine.py", "next.js", "what's"). Hyphens and slashes split, so spellings with and without
# them ("trade-off", "trade off") tokenize alike.
_TOKEN_RE = re.compile(r"\w+(?:['\u2019.]\w+)*")


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def is_spaceless_script(phrase: str) -> bool:
    """Japanese, Chinese and the like: phrases match as substrings, not as tokens."""
    return any(ord(char) >= 0x2E80 for char in phrase)


@dataclass(frozen=True, slots=True)
class Group:
    kind: str  # "task", "complexity", "domain", "capability" or a flag name
    target: str
    weight: int
    phrases: tuple[str, ...]
    # Social words ("ok", "great", "thanks") decide a two-word message but are noise inside a
    # long request, so such groups only count when the ask is at most this long (0: always).
    max_ask_chars: int = 0


@dataclass(slots=True)
class GroupHit:
    """Where a group first matched in the scanned text, and the distinct phrases that did."""

    group: Group
    first_at: int
    phrases: list[str]


@dataclass(frozen=True, slots=True)
class Tables:
    """Everything in phrases.json, typed."""

    groups: tuple[Group, ...]
    patterns: tuple[tuple[Group, re.Pattern[str]], ...]
    extension_domain: dict[str, str]
    fence_lang_domain: dict[str, str]

    @property
    def domain_groups(self) -> tuple[Group, ...]:
        return tuple(group for group in self.groups if group.kind == "domain")


def load_tables(path: Path = PHRASES_PATH) -> Tables:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    groups = tuple(
        Group(
            kind=raw["kind"],
            target=raw["target"],
            weight=int(raw["weight"]),
            phrases=tuple(raw["phrases"]),
            max_ask_chars=int(raw.get("max_ask_chars", 0)),
        )
        for raw in data["groups"]
    )
    patterns = tuple(
        (
            Group(raw["kind"], raw["target"], int(raw["weight"]), (raw["label"],)),
            re.compile(raw["pattern"]),
        )
        for raw in data["patterns"]
    )
    return Tables(
        groups=groups,
        patterns=patterns,
        extension_domain=dict(data["extension_domain"]),
        fence_lang_domain=dict(data["fence_lang_domain"]),
    )


@dataclass(frozen=True, slots=True)
class Concepts:
    """concepts.json: multilingual concept groups, deliverables and constraints."""

    concepts: tuple[Group, ...]
    deliverables: tuple[Group, ...]
    constraints: tuple[Group, ...]


def load_concepts(path: Path = CONCEPTS_PATH) -> Concepts:
    data: dict[str, dict[str, list[str]]] = json.loads(path.read_text(encoding="utf-8"))

    def groups(section: str, kind: str) -> tuple[Group, ...]:
        return tuple(
            Group(kind, name, 1, tuple(phrases)) for name, phrases in data[section].items()
        )

    return Concepts(
        concepts=groups("concepts", "concept"),
        deliverables=groups("deliverables", "deliverable"),
        constraints=groups("constraints", "constraint"),
    )


class Lexicon:
    """Phrase lookup in one pass over the tokens of a text.

    A phrase is matched on whole tokens; a trailing "*" makes its last word a prefix
    ("summar*" matches "summarise" and "summarizing"); a phrase in a script without spaces is
    found as a substring.
    """

    def __init__(self, groups: Iterable[Group], extensions: dict[str, str] | None = None) -> None:
        # first word -> (the other words, a word that must not follow, group, phrase, whether
        # the last word is a prefix)
        self._by_first: dict[str, list[tuple[tuple[str, ...], str | None, Group, str, bool]]] = {}
        # Single-word prefixes, keyed by their first four characters.
        self._prefixes: dict[str, list[tuple[str, Group]]] = {}
        self._substrings: list[tuple[str, Group]] = []
        # A file name is domain evidence: routing/engine.py, App.tsx, deploy.yaml.
        self._extensions: dict[str, Group] = {
            ext: Group("domain", domain, 3, (f"*.{ext}",))
            for ext, domain in (extensions or {}).items()
        }
        for group in groups:
            for phrase in group.phrases:
                if is_spaceless_script(phrase):
                    self._substrings.append((phrase, group))
                    continue
                text, _, forbidden = phrase.partition(" !")
                words = tuple(tokens(text))
                is_prefix = text.endswith("*")
                if is_prefix and len(words) == 1:
                    if len(words[0]) < _PREFIX_KEY:
                        raise ValueError(f"a one-word prefix needs 4+ letters: {phrase!r}")
                    self._prefixes.setdefault(words[0][:_PREFIX_KEY], []).append((words[0], group))
                    continue
                entry = (words[1:], forbidden or None, group, text, is_prefix)
                self._by_first.setdefault(words[0], []).append(entry)

    def scan(self, text: str, words: list[str]) -> dict[int, GroupHit]:
        """Group hits keyed by id(group); positions are token indexes."""
        hits: dict[int, GroupHit] = {}
        count = len(words)
        by_first = self._by_first
        prefixes = self._prefixes
        extensions = self._extensions
        for index, token in enumerate(words):
            if prefixes:
                for prefix, group in prefixes.get(token[:_PREFIX_KEY], ()):
                    if token.startswith(prefix):
                        _record(hits, group, index, f"{prefix}*")
            entries = by_first.get(token)
            if entries is None:
                if "." not in token:
                    continue
                # "psycopg.OperationalError", "engine.py": try the name and the extension.
                ext_group = extensions.get(token.rpartition(".")[2])
                if ext_group is not None:
                    _record(hits, ext_group, index, ext_group.phrases[0])
                entries = by_first.get(token.partition(".")[0])
                if entries is None:
                    continue
            for rest, forbidden, group, phrase, is_prefix in entries:
                end = index + 1 + len(rest)
                if is_prefix:
                    if end > count or tuple(words[index + 1 : end - 1]) != rest[:-1]:
                        continue
                    if not words[end - 1].startswith(rest[-1]):
                        continue
                elif rest and tuple(words[index + 1 : end]) != rest:
                    continue
                if forbidden is not None and end < count and words[end] == forbidden:
                    continue
                _record(hits, group, index, phrase)
        for phrase, group in self._substrings:
            at = text.find(phrase)
            if at >= 0:
                _record(hits, group, count if at else 0, phrase)
        return hits


def _record(hits: dict[int, GroupHit], group: Group, index: int, phrase: str) -> None:
    hit = hits.get(id(group))
    if hit is None:
        hits[id(group)] = GroupHit(group, index, [phrase])
    elif phrase not in hit.phrases:
        hit.phrases.append(phrase)
        hit.first_at = min(hit.first_at, index)
