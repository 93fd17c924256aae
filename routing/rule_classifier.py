"""The rule tier: phrase, pattern and shape cues; cheap enough to run on every message.

Rules first because the classifier sits on the hot path of every chat turn and a rule's
verdict explains itself: each cue that fires is written to ``signals``. The rules also say how
sure they are (``RuleVerdict.task_cue``): a clear cue decides, while a message with no cue or
two close task scores is handed to the statistical tier by ``routing.classifier``.

The phrase tables are data (``routing/data/phrases.json``, loaded by ``routing.lexicon``); the
shape of the request (lists, deliverables, constraints, pasted code) is ``routing.structure``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from routing.lexicon import GroupHit, Lexicon, load_concepts, load_tables, tokens
from routing.structure import (
    ASK_HEAD_CHARS,
    CLAUSE_RE,
    SENTENCE_END_RE,
    RequestShape,
    ShapeReader,
    inline_list_items,
)
from routing.vocabulary import (
    DOMAINS,
    TASK_TYPES,
    Capability,
    Classification,
    ClassifierContext,
    Complexity,
    CostTier,
    Domain,
    FieldVerdict,
    TaskType,
)

# Beyond this many tokens of history a model needs a large context window; 100k is where the
# cheap and local models in the default rules stop coping.
LONG_CONVERSATION_TOKENS = 100_000
# A single message this long (~8k tokens) already overflows small local models' windows.
LONG_MESSAGE_CHARS = 32_000

_BODY_VOCABULARY_CHARS = 1500
_DETERMINERS = frozenset({"this", "the", "attached", "that", "my", "our"})
# Words that may precede the verb of a request: "ok thanks, now write ...", "can you fix ...".
_LEADING_FILLERS = frozenset(
    {"please", "pls", "can", "could", "would", "you", "now", "so", "then", "also", "and", "next"}
    | {"ok", "okay", "hey", "hi", "great", "thanks", "thank", "cool", "nice", "perfect"}
)
# Tie-break when two tasks score the same: the more specific ask wins.
_TASK_PRIORITY: tuple[TaskType, ...] = (
    "summarization",
    "creative",
    "coding",
    "analysis",
    "research",
    "conversation",
)
# Where domain scores tie, the more specific speciality wins.
_DOMAIN_PRIORITY: tuple[Domain, ...] = ("docs", "devops", "frontend", "backend")
# A technical word among the first few of the ask usually names the artefact ("a Dockerfile
# for a Python app" is devops), so the domain named first counts double.
_DOMAIN_HEAD_TOKENS = 10
# Outside coding, one passing technical word does not make a message technical.
_DOMAIN_MIN_SCORE = 5
# Two or more technical terms and no task verb: "Django management command that deletes ...".
_TECHNICAL_STATEMENT_SCORE = 6

TABLES = load_tables()
CONCEPTS = load_concepts()
_ASK_LEXICON = Lexicon(TABLES.groups, TABLES.extension_domain)
_BODY_LEXICON = Lexicon(TABLES.domain_groups, TABLES.extension_domain)
_SHAPES = ShapeReader(CONCEPTS)

# How sure the rules are of a task type: a cue that clearly outscores the others, two cues too
# close to call, or no cue at all (the verdict is a default).
TaskCue = Literal["clear", "close", "none"]


@dataclass(frozen=True, slots=True)
class TaskReading:
    """What the rules make of a message once its task type is settled."""

    complexity: Complexity
    complexity_score: int
    domain: Domain
    capabilities: frozenset[Capability]
    signals: tuple[str, ...]


@dataclass(slots=True)
class RuleVerdict:
    """The rule tier's answer with the evidence the tiered classifier weighs."""

    task_type: TaskType
    task_scores: dict[TaskType, int]
    task_cue: TaskCue
    reading: TaskReading
    shape: RequestShape
    _features: _Features
    _context: ClassifierContext

    @property
    def complexity(self) -> Complexity:
        return self.reading.complexity

    @property
    def domain(self) -> Domain:
        return self.reading.domain

    @property
    def summarizes_conversation(self) -> bool:
        """A summary of the conversation itself, whose size is known: the size decides how much
        work it is (the statistical tier was trained on messages without a conversation)."""
        return (
            self.task_type == "summarization"
            and self._context.conversation_tokens > 0
            and self.shape.material_chars < 40
            and self._features.flag("conversation_ref") is not None
        )

    @property
    def signals(self) -> tuple[str, ...]:
        return self.reading.signals

    def for_task(self, task: TaskType) -> TaskReading:
        """Complexity, domain and capabilities as the rules see them for ``task`` (when
        another tier settled the task type)."""
        if task == self.task_type:
            return self.reading
        return _read_for_task(task, self._features, self._context)

    def capabilities_for(self, task: TaskType, complexity: Complexity) -> frozenset[Capability]:
        if (task, complexity) == (self.task_type, self.complexity):
            return self.reading.capabilities
        return capabilities_for(task, complexity, self._features, self._context)

    def evidence(self) -> list[str]:
        """The rule verdict as features for the statistical tier."""
        out = [f"task={self.task_type}:{self.task_cue}"]
        out.extend(
            f"score={task}:{min(score, 12) // 3}"
            for task, score in self.task_scores.items()
            if score
        )
        out.append(f"complexity={self.complexity}")
        out.append(f"complexity_score={max(-3, min(self.reading.complexity_score, 5))}")
        out.append(f"domain={self.domain}")
        return out

    def classification(self) -> Classification:
        return Classification(
            task_type=self.task_type,
            complexity=self.complexity,
            domain=self.domain,
            cost_tier=cost_tier(self.task_type, self.complexity),
            capabilities=self.reading.capabilities,
            signals=self.signals,
            decided_by=(
                FieldVerdict("task_type", "rules", 1.0, f"task cue {self.task_cue}"),
                FieldVerdict("complexity", "rules", 1.0, "rules"),
                FieldVerdict("domain", "rules", 1.0, "rules"),
            ),
        )


@dataclass(slots=True)
class _Features:
    """Everything the decision steps need, computed once per message."""

    shape: RequestShape
    hits: list[GroupHit]
    domain_scores: dict[Domain, int]
    ask_tech_score: int
    signals: list[str]

    @property
    def tokens(self) -> list[str]:
        return self.shape.ask_tokens

    def flag(self, kind: str) -> GroupHit | None:
        for hit in self.hits:
            if hit.group.kind == kind:
                return hit
        return None

    def of_kind(self, kind: str) -> list[GroupHit]:
        return [hit for hit in self.hits if hit.group.kind == kind]


class RuleBasedClassifier:
    """Phrase, pattern and shape cues; every cue that fires is recorded in ``signals``."""

    def classify(self, text: str, context: ClassifierContext | None = None) -> Classification:
        return self.analyse(text, context or ClassifierContext()).classification()

    def analyse(self, text: str, context: ClassifierContext) -> RuleVerdict:
        features = _extract(text, context)
        task, scores, cue = _task_type(features)
        return RuleVerdict(
            task_type=task,
            task_scores=scores,
            task_cue=cue,
            reading=_read_for_task(task, features, context),
            shape=features.shape,
            _features=features,
            _context=context,
        )


def _read_for_task(task: TaskType, f: _Features, context: ClassifierContext) -> TaskReading:
    signals = list(f.signals)
    complexity, score = _complexity(task, f, context, signals)
    domain = _domain(task, f, signals)
    return TaskReading(
        complexity=complexity,
        complexity_score=score,
        domain=domain,
        capabilities=capabilities_for(task, complexity, f, context),
        signals=tuple(signals),
    )


def _extract(text: str, context: ClassifierContext) -> _Features:
    signals: list[str] = []
    shape = _SHAPES.read(text, context)
    ask = shape.ask
    words = shape.ask_tokens
    hits = list(_ASK_LEXICON.scan(ask, words).values())
    for group, pattern in TABLES.patterns:
        match = pattern.search(ask)
        if match:
            hits.append(GroupHit(group, len(words), [match.group(0).strip()]))

    domain_scores, ask_tech = _domain_scores(
        hits, shape.body, bool(shape.fences), shape.fence_langs
    )
    if shape.fences:
        signals.append("code fence")
    if shape.code_lines >= 3:
        signals.append(f"{shape.code_lines} code-looking lines")
    if shape.log_lines >= 2:
        signals.append(f"{shape.log_lines} log lines")
    if shape.question:
        signals.append("question form")
    signals.append(f"length {shape.text_len} chars")
    if context.conversation_tokens:
        signals.append(f"conversation {_format_tokens(context.conversation_tokens)} tokens")
    if context.has_images:
        signals.append("image attached")
    if context.attachments:
        signals.append(f"{context.attachments} attachment(s)")
    return _Features(
        shape=shape,
        hits=hits,
        domain_scores=domain_scores,
        ask_tech_score=ask_tech,
        signals=signals,
    )


def _task_type(f: _Features) -> tuple[TaskType, dict[TaskType, int], TaskCue]:
    scores: dict[TaskType, int] = dict.fromkeys(TASK_TYPES, 0)
    shape = f.shape
    if not f.tokens and not shape.ask.strip():
        f.signals.append("empty message")
        return "conversation", scores, "clear"

    for hit in f.of_kind("task"):
        group = hit.group
        if group.max_ask_chars and len(shape.ask) > group.max_ask_chars:
            continue
        scores[group.target] += group.weight  # type: ignore[index]
        f.signals.append(f"keyword '{hit.phrases[0]}'")

    build = f.flag("build")
    if build and _at_start(f.tokens, build.first_at):
        artefact = f.flag("artefact")
        if f.ask_tech_score >= 3 or artefact:
            scores["coding"] += 5
            named = artefact.phrases[0] if artefact else "technical terms"
            f.signals.append(f"build verb '{build.phrases[0]}' + {named}")
    # Pasted code is evidence of a coding task, but weaker than an explicit verb: "summarize
    # this" or "what does this print" over a code block is not a request to write code.
    if shape.fences or shape.code_lines >= 3:
        scores["coding"] += 3
    # A log without code and without a request to change anything is a diagnosis.
    if shape.log_lines >= 2 and shape.code_lines < 3:
        scores["analysis"] += 2

    ranked = sorted(_TASK_PRIORITY, key=lambda task: scores[task], reverse=True)
    best, second = ranked[0], ranked[1]
    if scores[best] > 0:
        close = scores[second] > 0 and scores[best] - scores[second] < _CLOSE_MARGIN
        return best, scores, "close" if close else "clear"

    # Nothing fired: an open question is most likely a question about the world, a
    # statement full of technical terms is most likely a request about code, and anything
    # else is chat.
    if shape.question and shape.text_len > 25:
        f.signals.append("open question")
        return "research", scores, "none"
    if f.ask_tech_score >= _TECHNICAL_STATEMENT_SCORE:
        f.signals.append("technical statement")
        return "coding", scores, "none"
    f.signals.append("no task cue")
    return "conversation", scores, "none"


def _complexity(
    task: TaskType, f: _Features, context: ClassifierContext, signals: list[str]
) -> tuple[Complexity, int]:
    if task == "conversation":
        if f.flag("advice"):
            signals.append("asks for advice")
            return "moderate", 1
        return "simple", 0

    shape = f.shape
    score = 0
    for hit in f.of_kind("complexity"):
        score += hit.group.weight * len(hit.phrases)
        signals.append(f"{hit.group.target} cue '{', '.join(hit.phrases)}'")
    # A summary's requirements are in its instruction; the clauses of the pasted text it
    # condenses are not work items.
    requirements = shape.instruction if task == "summarization" else shape.ask
    score += requirement_score(requirements, signals)
    if task != "summarization":
        score += _structure_score(task, shape, signals)

    if task == "summarization":
        score += _summary_size_score(f, context, signals)
    elif shape.material_chars >= 2000:
        score += 2
        signals.append("large pasted material")
    elif shape.code_lines >= 20:
        score += 1

    if score >= 3:
        return "complex", score
    if score < 0:
        return "simple", score
    if _looks_simple(task, f):
        return "simple", score
    return "moderate", score


def _structure_score(task: TaskType, shape: RequestShape, signals: list[str]) -> int:
    """Several deliverables, demanding constraints, a long list of requirements: more work."""
    score = 0
    deliverables = set(shape.deliverables)
    if task == "coding":
        deliverables.add("code")
    if len(deliverables) >= 3:
        score += 1
        signals.append(f"{len(deliverables)} deliverables: {', '.join(sorted(deliverables))}")
    if shape.constraints:
        score += min(len(shape.constraints), 2)
        signals.append(f"constraints: {', '.join(shape.constraints)}")
    if shape.list_items >= 5:
        score += 1
        signals.append(f"{shape.list_items} listed requirements")
    return score


def _summary_size_score(f: _Features, context: ClassifierContext, signals: list[str]) -> int:
    """A summary's difficulty is the size of what it condenses."""
    shape = f.shape
    if shape.material_chars < 40 and f.flag("conversation_ref"):
        conversation = context.conversation_tokens
        if conversation >= 80_000:
            signals.append("summarizes a long conversation")
            return 3
        return 0 if conversation >= 5_000 else -1
    if shape.material_chars >= 2500:
        signals.append("large material to condense")
        return 3
    if shape.material_chars < 300 and shape.material_lines < 5:
        return -1
    return 0


def _looks_simple(task: TaskType, f: _Features) -> bool:
    shape = f.shape
    short_ask = len(shape.ask) <= 100 and shape.material_chars < 200
    if task == "research":
        return short_ask and f.flag("single_fact") is not None
    if task == "coding":
        substantial = f.flag("substantial")
        return (
            short_ask
            and shape.code_lines <= 4
            and not (substantial and _at_start(f.tokens, substantial.first_at))
        )
    return False


def _domain(task: TaskType, f: _Features, signals: list[str]) -> Domain:
    if task == "conversation":
        return "general"
    if task == "creative":
        if f.flag("ui_copy"):
            signals.append("UI copy")
            return "frontend"
        return "general"
    if task == "research" and f.flag("trivia"):
        signals.append("history or trivia")
        return "general"

    scores = f.domain_scores
    best = max(_DOMAIN_PRIORITY, key=lambda domain: scores[domain])
    if task == "coding":
        # Code always belongs to some speciality; general-purpose code is backend.
        if scores[best] <= 0:
            return "backend"
    elif scores[best] < _DOMAIN_MIN_SCORE:
        return "general"
    signals.append(f"domain {best} ({scores[best]})")
    return best


# Two task scores closer than this are too close for the rules to call.
_CLOSE_MARGIN = 3


def requirement_score(ask: str, signals: list[str]) -> int:
    """More separate requirements in the ask means more work, however each is phrased."""
    instruction = ask[:ASK_HEAD_CHARS]
    clauses = len(CLAUSE_RE.findall(instruction))
    sentences = len(SENTENCE_END_RE.findall(instruction))
    listed = inline_list_items(instruction)
    if listed >= 4:
        signals.append(f"list of {listed} requirements")
        return 3
    if clauses >= 6 or (clauses >= 5 and sentences >= 3):
        signals.append(f"{clauses} clauses")
        return 3
    if clauses >= 4:
        signals.append(f"{clauses} clauses")
        return 2
    return 1 if clauses == 3 else 0


def _domain_scores(
    hits: list[GroupHit], body: str, has_fences: bool, fence_langs: tuple[str, ...]
) -> tuple[dict[Domain, int], int]:
    """Vote per domain; also return how technical the ask itself sounds."""
    scores: dict[Domain, int] = dict.fromkeys(DOMAINS, 0)
    named: list[tuple[Domain, int, int]] = []
    for hit in hits:
        if hit.group.kind == "domain":
            weight = hit.group.weight
            named.append((hit.group.target, weight * min(len(hit.phrases), 3), hit.first_at))  # type: ignore[arg-type]
    ask_tech = 0
    if named:
        earliest = min(first_at for _, _, first_at in named)
        for domain, score, first_at in named:
            head_bonus = first_at == earliest and first_at < _DOMAIN_HEAD_TOKENS
            scores[domain] += score * 2 if head_bonus else score
            ask_tech += score
    # Technical words in pasted code or logs are good evidence; in pasted prose, weaker.
    if body:
        body_weight = 2 if has_fences else 1
        sample = body[:_BODY_VOCABULARY_CHARS].lower()
        for hit in _BODY_LEXICON.scan(sample, tokens(sample)).values():
            scores[hit.group.target] += body_weight * min(len(hit.phrases), 3)  # type: ignore[index]
    for lang in {lang.lower() for lang in fence_langs}:
        lang_domain = TABLES.fence_lang_domain.get(lang)
        if lang_domain:
            scores[lang_domain] += 3  # type: ignore[index]
    return scores, ask_tech


def capabilities_for(
    task: TaskType, complexity: Complexity, features: _Features, context: ClassifierContext
) -> frozenset[Capability]:
    """What the answering model must be able to do, given the final task and complexity."""
    caps: set[Capability] = set()
    for hit in features.of_kind("capability"):
        caps.add(hit.group.target)  # type: ignore[arg-type]
    if context.has_images or _mentions_picture(features):
        caps.add("vision")
    text_len = features.shape.text_len
    estimated_tokens = context.conversation_tokens + text_len // 4
    if estimated_tokens > LONG_CONVERSATION_TOKENS or text_len > LONG_MESSAGE_CHARS:
        caps.add("long-context")
    if task == "analysis" or (
        complexity == "complex" and task in ("coding", "analysis", "research")
    ):
        caps.add("reasoning")
    return frozenset(caps)


def _at_start(words: list[str], index: int) -> bool:
    """Whether the token at index opens the ask, allowing "please", "can you" and the like."""
    return index < len(words) and all(token in _LEADING_FILLERS for token in words[:index])


def _mentions_picture(f: _Features) -> bool:
    """ "this screenshot", "the Grafana panel", "attached image" - not "two charts"."""
    hit = f.flag("vision")
    if hit is None:
        return False
    if "screenshot" in hit.phrases or "screenshots" in hit.phrases:
        return True
    nouns = set(hit.phrases)
    words = f.tokens
    for index, token in enumerate(words):
        if (
            token in nouns
            and index >= 1
            and (
                words[index - 1] in _DETERMINERS
                or (index >= 2 and words[index - 2] in _DETERMINERS)
            )
        ):
            return True
    return False


def cost_tier(task: TaskType, complexity: Complexity) -> CostTier:
    """Cheap chat and one-fact questions, premium hard work, everything else in between."""
    if complexity == "complex":
        return "premium"
    if complexity == "simple" and task in ("conversation", "research"):
        return "cheap"
    return "standard"


def _format_tokens(count: int) -> str:
    return f"{count // 1000}k" if count >= 1000 else str(count)
