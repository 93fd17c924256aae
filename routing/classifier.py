"""Task classifier: the first step of routing a chat message.

The classifier turns a user message (plus a little context about the conversation) into a
``Classification`` that routing rules match on: what kind of task it is, how hard, which
engineering area, how much it is worth spending, and which model capabilities it needs.

It runs on every chat message before anything is sent upstream, so it is pure Python with no
I/O and no Django, and its cost does not grow with the size of a paste: it reads a bounded
prefix of the text, tokenizes it once and looks phrases up in a dictionary built at import
(regexes are kept for the few cues that really are patterns). It explains itself: every cue
that fired is recorded in ``signals`` so the routing decision shown to the user can say *why*.

The rule-based implementation sits behind the ``Classifier`` protocol so an LLM- or
embedding-assisted classifier can replace or wrap it later without touching callers, which
only ever call ``classify(text, context)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol, get_args

TaskType = Literal["coding", "research", "summarization", "conversation", "analysis", "creative"]
Complexity = Literal["simple", "moderate", "complex"]
Domain = Literal["frontend", "backend", "devops", "docs", "general"]
CostTier = Literal["cheap", "standard", "premium"]
Capability = Literal["tools", "vision", "long-context", "reasoning"]

# The routing rule validator imports these to check rule conditions, so they are the single
# source of truth for the vocabulary (derived from the Literal types so the two can't drift).
TASK_TYPES: tuple[TaskType, ...] = get_args(TaskType)
COMPLEXITIES: tuple[Complexity, ...] = get_args(Complexity)
DOMAINS: tuple[Domain, ...] = get_args(Domain)
COST_TIERS: tuple[CostTier, ...] = get_args(CostTier)
CAPABILITIES: tuple[Capability, ...] = get_args(Capability)

# Beyond this many tokens of history a model needs a large context window; 100k is where the
# cheap and local models in the default rules stop coping.
LONG_CONVERSATION_TOKENS = 100_000
# A single message this long (~8k tokens) already overflows small local models' windows.
LONG_MESSAGE_CHARS = 32_000

# Only bounded slices of the text are ever scanned, so a 1 MB paste costs the same as a page.
# The ask (what the user wants) is at the start of a message or right after pasted code;
# pasted material is only sampled for its shape (code, logs) and its vocabulary (domain).
_ASK_HEAD_CHARS = 500
_ASK_TAIL_CHARS = 200
_HEAD_CHARS = 3000
_SHAPE_SCAN_CHARS = 2000
_BODY_VOCABULARY_CHARS = 1500


@dataclass(frozen=True, slots=True)
class ClassifierContext:
    """What the gateway knows about the conversation besides the message text."""

    conversation_tokens: int = 0
    message_count: int = 0
    has_images: bool = False
    attachments: int = 0


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's verdict; routing rules match on these fields."""

    task_type: TaskType
    complexity: Complexity
    domain: Domain
    cost_tier: CostTier
    capabilities: frozenset[Capability] = field(default_factory=frozenset)
    signals: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able data for RoutingDecision rows and the session:info event."""
        return {
            "task_type": self.task_type,
            "complexity": self.complexity,
            "domain": self.domain,
            "cost_tier": self.cost_tier,
            "capabilities": sorted(self.capabilities),
            "signals": list(self.signals),
        }

    def summary(self) -> str:
        """Short phrase for routing explanations, e.g. "coding + complex"."""
        return f"{self.task_type} + {self.complexity}"


class Classifier(Protocol):
    """Anything that can classify a message; the seam for smarter classifiers later."""

    def classify(self, text: str, context: ClassifierContext | None = None) -> Classification: ...


# --------------------------------------------------------------------------------------------
# Phrase tables.
#
# Each group is a list of phrases with one meaning: a vote for a task type, a push on the
# complexity score, a vote for a domain, a capability, or a flag a decision step asks about.
# Phrases are written as a user would type them, lower case; they are split into tokens the
# same way messages are, so "tl;dr" matches "TL;DR" and "trade-offs" matches "trade offs".
# Phrases in scripts written without spaces (Japanese, Chinese) match as substrings. A phrase
# ending in " !word" does not match when "word" comes next.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Group:
    kind: str  # "task", "complexity", "domain", "capability" or a flag name
    target: str
    weight: int
    phrases: tuple[str, ...]
    # Social words ("ok", "great", "thanks") decide a two-word message but are noise inside a
    # long request, so such groups only count when the ask is at most this long (0: always).
    max_ask_chars: int = 0


def _group(kind: str, target: str, weight: int, *phrases: str, max_ask_chars: int = 0) -> _Group:
    return _Group(kind, target, weight, phrases, max_ask_chars)


def _each(template: str, *fillers: str) -> tuple[str, ...]:
    """Spell out a family of phrases: _each("what is the {}", "capital", "population")."""
    return tuple(template.format(filler) for filler in fillers)


_TASK_GROUPS: tuple[_Group, ...] = (
    # Research verbs name the work even when the output is a summary ("find papers and
    # summarize them"), so they outweigh the summarization verbs below.
    _group(
        "task",
        "research",
        8,
        *_each("find {}", "papers", "studies", "articles", "sources"),
        *_each("find recent {}", "papers", "studies", "articles"),
        "find the latest papers",
        "literature review",
        "search the web",
        "search online",
        "look up",
        *_each("research {}", "the", "how", "what", "whether"),
        "investigate how",
    ),
    _group(
        "task",
        "summarization",
        7,
        "summarize",
        "summarise",
        "summarized",
        "summarizing",
        "summarising",
        "summary",
        "summaries",
        "tl;dr",
        "tldr",
        *_each("sum {}up", "", "it ", "this ", "these ", "that ", "them "),
        "gist",
        "key points",
        "key takeaways",
        "takeaways",
        "recap",
        "condense",
        "boil this down",
        "boil it down",
        "shorten this",
        "commit messages into",
        "commits into",
        "résume",
        "résumé",
        "résumer",
        "résumez",
        "resumen",
        "resumir",
        "resuma",
        *_each("resume {}", "este", "esta", "estos", "estas", "el", "la", "los", "las"),
        "zusammenfassen",
        "zusammenfassung",
        "fasse",
        "要約",
        "まとめて",
    ),
    # Creative: a piece of writing named by its form.
    _group(
        "task",
        "creative",
        7,
        "haiku",
        "haikus",
        "poem",
        "poems",
        "poetry",
        "sonnet",
        "sonnets",
        "limerick",
        "limericks",
        "lyrics",
        "rap verse",
        "story",
        "stories",
        "fairy tale",
        "fairytale",
        "novel",
        "screenplay",
        "joke",
        "jokes",
        "pun",
        "puns",
        "slogan",
        "slogans",
        "tagline",
        "taglines",
        "toast",
        "eulogy",
        "cover letter",
        "backstory",
        "plot idea",
        "plot ideas",
        "name ideas",
        "one-shot",
        "out-of-office",
        "auto-reply",
        "product description",
        "linkedin post",
        "blog post",
        "tweet",
        *_each("email {}", "to", "declining", "for", "asking", "announcing"),
        *_each("e-mail {}", "to", "declining", "for", "asking"),
        *_each("letter {}", "to", "declining", "for", "asking"),
        "welcome message",
        "404 message",
        "funny message",
        "create a world",
        "to sound more",
        "poème",
        "conte",
        "gedicht",
        "gutenachtgeschichte",
        "geschichte",
        "eslogan",
        "cuento",
        "poema",
        "俳句",
        "詩を",
        "物語を",
    ),
    # Coding: changing code, asking how to do something with a tool, or asking for a command.
    # "Write X" alone is not enough (poems get written too): the build-verb rule in _task_type
    # covers "write/build/set up ..." followed by technical vocabulary or a code artefact.
    _group(
        "task",
        "coding",
        6,
        "implement",
        "implements",
        "implementing",
        "implementation",
        "implementiere",
        "refactor",
        "refactoring",
        "réécris",
        *_each("port {}", "this", "our", "it"),
        "migrate our",
        *_each("convert {}", "this", "it", "to"),
        *_each("fix {}", "it", "this", "the", "my", "that"),
        "debug",
        "debugging",
        *_each("review this {}", "function", "code", "pr", "class", "module"),
        "suggest improvements",
        *_each("css {}", "to", "for"),
        *_each("sql {}", "to", "for"),
        *_each("regex {}", "to", "for"),
        *_each("one-liner {}", "to", "for"),
        "python one-liner",
        *_each("{} command", "git", "kubectl", "docker", "chmod", "bash", "shell", "npm", "pip"),
        "sql query",
        "pre-commit-config",
        "schreib mir ein skript",
        "schreib mir ein python-skript",
        "schreibe mir ein skript",
        "écris une fonction",
        "escribe un componente",
        "cómo añado",
        "wie sortiere ich",
        "型を付けて",
        "コードを書いて",
    ),
    _group(
        "task",
        "coding",
        4,
        "can you fix",
        "how do i fix",
        "what do i need to change",
        *_each("make this {}", "button", "link", "form", "page", "component"),
        "open in a new tab",
        "apply the same change",
        "why does this throw",
        "crashes with",
    ),
    # Research: questions about how the world (or a technology) is and works.
    _group(
        "task",
        "research",
        4,
        *_each("who {}", "invented", "discovered", "developed", "founded", "started", "wrote"),
        *_each("when {}", "was", "were", "did"),
        "explain how",
        "what causes",
        "what is the difference",
        "what are the differences",
        "what's the difference",
        "difference between",
        *_each("what is the {}", "population", "capital", "boiling point", "tallest", "highest"),
        *_each("what's the {}", "population", "capital", "tallest", "highest", "latest"),
        *_each("what is the {}", "latest", "current", "state", "largest"),
        "what's the current",
        "what's the state",
        "what changed in",
        "which browsers support",
        "what are the current recommendations",
        "what are the recommendations",
        "history of",
        "origin of",
        "origins of",
        "overview of",
        "cite your sources",
        "cite sources",
        "with citations",
        "qu'est-ce que",
        "wer hat",
        "was ist",
        "cuál es la diferencia",
        "qué es",
        "何ですか",
        "とは",
        "誰が",
        "いつ",
    ),
    # Analysis: a judgement over options, data or supplied material.
    _group(
        "task",
        "analysis",
        6,
        "compare",
        "comparing",
        "comparison",
        "trade-off",
        "trade-offs",
        "tradeoff",
        "tradeoffs",
        "pros and cons",
        "analyze",
        "analyse",
        "evaluate",
        "critique",
        "estimate",
        "prove",
        "step by step",
        *_each("show {} reasoning", "your", "the"),
        *_each("show {} calculation", "your", "the"),
        "explain your reasoning",
        "what stands out",
        "bottleneck",
        "significant",
        "correlation",
        "trend",
        "trends",
        "single point of failure",
        "single points of failure",
        "over-provisioning",
        "overprovisioning",
        "logical fallacies",
        *_each("is this {}", "valid", "reasoning valid", "vulnerable", "correct", "safe"),
        "time complexity",
        *_each("what does this {}", "print", "output", "return"),
        "in plain words",
        *_each("what might be {}", "causing", "hurting"),
        "what's going on",
        "rank these",
        "break down the cost",
        "break down the monthly cost",
        *_each("which should i {}", "take", "choose", "pick", "use"),
        *_each("which should we {}", "take", "choose", "pick", "use"),
        "should i use",
        "should we use",
        "is it better",
        "is it worth",
        "will perform best",
        "good enough",
        "recommend",
        "plan the migration order",
        *_each("why did {}", "this", "our", "the"),
        *_each("why is {}", "this", "our", "the"),
        "avantages et inconvénients",
        "avantages et les inconvénients",
        "vergleiche",
        "me conviene",
    ),
    # Conversation, everyday: quick questions and personal chat, at any length.
    _group(
        "task",
        "conversation",
        6,
        "how are you",
        "who are you",
        "what can you do",
        "which model are you",
        "my name is",
        "from now on",
        "what time is it",
        "what's the time",
        "what is the time",
        "what's today's date",
        "what is today's date",
        "what's the date",
        "what is the date",
        "what day is",
        "what day of the week is",
        "weather",
        "umbrella",
        "remind me",
        "set a timer",
        "set a reminder",
        "set an alarm",
        *_each("how many {}", "seconds", "minutes", "hours", "days", "weeks"),
        "how do you say",
        "cheer me up",
        "i just got",
        "any advice",
        "any tips",
        "what can i do",
        "what do you think",
        "not sure what to do",
        *_each("i'm {}", "nervous", "tired", "sad", "stressed", "trying to decide"),
        "i've been feeling",
        "wie geht's",
        "qué tal",
        "qué hora es",
        "quelle heure",
        "wie spät",
        "tu peux m'aider",
    ),
    # Conversation, social: greetings, thanks and acknowledgements decide only short messages.
    _group(
        "task",
        "conversation",
        6,
        "hi",
        "hello",
        "hey",
        "hey there",
        *_each("good {}", "morning", "afternoon", "evening", "night"),
        "thanks",
        "thank you",
        "thx",
        "ok",
        "okay",
        "cool",
        "great",
        "lol",
        "yes",
        "yeah",
        "yep",
        "no",
        "nope",
        "sure",
        "nice",
        "perfect",
        "awesome",
        "got it",
        "sounds good",
        "bye",
        "see you",
        "cheers",
        "well done",
        "never mind",
        "nevermind",
        "sorry, i meant",
        "hmm",
        "hmmm",
        "bonjour",
        "bonsoir",
        "bonne nuit",
        "salut",
        "merci",
        "ça va",
        "hallo",
        *_each("guten {}", "morgen", "tag", "abend"),
        "gute nacht",
        "danke",
        "tschüss",
        "hola",
        "gracias",
        "buenos días",
        "buenas tardes",
        "buenas noches",
        "ciao",
        "grazie",
        "buongiorno",
        "olá",
        "obrigado",
        "obrigada",
        "こんにちは",
        "ありがとう",
        "おはよう",
        "こんばんは",
        "よろしく",
        "你好",
        "谢谢",
        max_ask_chars=60,
    ),
)

# Complexity groups push a score; positive means more work, negative less.
_COMPLEXITY_GROUPS: tuple[_Group, ...] = (
    _group(
        "complexity",
        "complex",
        3,
        "design and",
        "design the",
        "architecture",
        "migration plan",
        "zero downtime",
        "complete",
        "comprehensive",
        "thorough",
        "end-to-end",
        "multi-tenant",
        "from scratch",
        "literature review",
        *_each("find {}", "papers", "studies"),
        *_each("find recent {}", "papers", "studies"),
        *_each("for each {}", "endpoint", "section", "chapter"),
        *_each("each {} below", "endpoint", "section"),
        "walk me through",
        *_each("{} chapter", "opening", "first", "next", "whole"),
        "novel",
        "three acts",
        "spreads",
        "cycle of",
        "series of",
        "create a world",
        "race condition",
        "single point of failure",
        "single points of failure",
        "cite your sources",
        "cite sources",
        "with citations",
        "investigate",
        "executive summary",
        "recurring themes",
        "grouped by",
        "structured brief",
        "open questions",
        "refactor",
        "refactoring",
        *_each("port {}", "this", "our", "it"),
        "réécris",
        "restructure",
        "migrate our",
        "helm chart",
        "playbooks",
        "operator",
        "which should i take",
        "rank these",
        "plan the migration",
    ),
    _group(
        "complexity",
        "complex",
        1,
        *_each("and {} tests", "add", "write", "add unit", "write unit", "add regression"),
        "vollständigen tests",
        "design decisions",
        "designentscheidungen",
        "recommend",
        "step by step",
        "trade-offs",
        "tradeoffs",
        "explain each step",
        "including",
        "dual writes",
        "benchmarks",
        "proptest",
    ),
    _group(
        "complexity",
        "simple",
        -3,
        "one-liner",
        "one line",
        "single line",
        "one sentence",
        "two sentences",
        "deux phrases",
        "command",
        "regex",
        "typo",
        "haiku",
        "limerick",
        "slogan",
        "eslogan",
        "tagline",
        "joke",
        "tweet",
        "name ideas",
        "rap verse",
        "out-of-office",
        *_each("{} message", "funny", "short", "quick", "polite"),
        *_each("{} email", "funny", "short", "quick", "polite"),
        *_each("{} note", "short", "quick"),
        *_each("{} reply", "short", "quick"),
        "in plain english",
        *_each("is this {}", "valid", "reasoning valid", "vulnerable", "correct", "safe"),
        *_each("what does this {}", "print", "output", "return"),
        "time complexity of this",
        "solve this",
        "how much does the",
        "俳句",
    ),
)

_DOMAIN_GROUPS: tuple[_Group, ...] = (
    # Documentation words name the artefact itself, so they outweigh the code they describe.
    _group(
        "domain",
        "docs",
        6,
        "readme",
        "docstring",
        "docstrings",
        "documentation",
        "docs",
        "mkdocs",
        "sphinx",
        "docusaurus",
        "diátaxis",
        "restructuredtext",
        "openapi",
        "swagger",
        "api reference",
        "changelog",
        "release notes",
        "contributing.md",
        "user guide",
        "design document",
        "confluence",
    ),
    _group(
        "domain",
        "frontend",
        4,
        "css",
        "html",
        "react",
        "jsx",
        "tsx",
        "vue",
        "svelte",
        "angular",
        "next.js",
        "tailwind",
        "flex container",
        "flexbox",
        "div",
        "browser",
        "browsers",
        "javascript",
        "js",
        "typescript",
        "jquery",
        "vite",
        "accessible",
        "accessibility",
        "screen reader",
        "dark mode",
        "responsive",
        "usestate",
        "useeffect",
        "useref",
        "service worker",
        "service workers",
        "webassembly",
        "re-render",
        "single-page app",
        "server-side rendering",
        "redux",
        "zustand",
        "404 page",
        "chat widget",
        "signup form",
        "button",
        "new tab",
        "playwright",
        "componente de react",
        "console.log",
    ),
    _group(
        "domain",
        "devops",
        4,
        "docker",
        "dockerfile",
        "docker-compose",
        "container",
        "containers",
        "kubernetes",
        "k8s",
        "kubectl",
        "pod",
        "pods",
        "helm",
        "ingress",
        "cronjob",
        "cronjobs",
        "terraform",
        "ansible",
        "aws",
        "rds",
        "hetzner",
        "s3",
        "ci",
        "ci/cd",
        "github actions",
        "workflow",
        *_each("{} pipeline", "ci", "cd", "build", "deploy", "deployment", "release"),
        "deploy",
        "deploys",
        "deployed",
        "deploying",
        "deployment",
        "deployments",
        "nginx",
        "systemd",
        "gunicorn",
        "ssh",
        "ufw",
        "ubuntu",
        "bash script",
        "chmod",
        "git",
        "branch",
        "pre-commit",
        "monorepo",
        "polyrepo",
        "tcp",
        "udp",
        "tls",
        "certificate",
        "grafana",
        "latency",
        "on-call",
        "incident",
        "postmortem",
        "kafka",
        "broker",
        "brokers",
        "cluster",
        "resource requests",
        "ram",
        "instance",
        "vcpu",
        "managed postgres",
        "egress",
        "load balancer",
        "servers",
    ),
    _group(
        "domain",
        "backend",
        3,
        "python",
        "django",
        "flask",
        "fastapi",
        "viewset",
        "drf",
        "sql",
        "postgres",
        "postgresql",
        "psycopg",
        "mongodb",
        "database",
        "orm",
        "sqlalchemy",
        "rest api",
        "rest or",
        "graphql",
        "api",
        "endpoint",
        "endpoints",
        "node.js",
        "golang",
        "in go",
        "rust",
        "jvm",
        "gil",
        "cpython",
        "celery",
        "redis",
        "traceback",
        "threads",
        "threading",
        "thread-safe",
        "thread pool",
        "asyncio",
        "async/await",
        "mutex",
        "semaphore",
        "race condition",
        "raft",
        "consensus",
        "lru",
        "b-tree",
        "password hashing",
        "auth",
        "jwt",
        "regex",
        "f-string",
        "script",
        "skript",
        "function",
        "fonction",
        "sql injection",
        "time complexity",
        "pytest",
        "mypy",
        "middleware",
        "message search",
        "full-text search",
        "search engine",
        "search index",
    ),
)
_EXTENSION_DOMAIN: dict[str, Domain] = {
    **dict.fromkeys(("py", "go", "rs", "java", "rb", "php"), "backend"),
    **dict.fromkeys(("ts", "tsx", "js", "jsx", "css", "html", "vue", "svelte"), "frontend"),
    **dict.fromkeys(("yaml", "yml", "tf", "sh"), "devops"),
    "md": "docs",
}
_FENCE_LANG_DOMAIN: dict[str, Domain] = {
    **dict.fromkeys(("python", "py", "go", "rust", "sql", "java", "diff"), "backend"),
    **dict.fromkeys(("js", "jsx", "ts", "tsx", "html", "css", "vue"), "frontend"),
    **dict.fromkeys(("yaml", "yml", "bash", "sh", "hcl", "dockerfile"), "devops"),
    **dict.fromkeys(("markdown", "md"), "docs"),
}

_CAPABILITY_GROUPS: tuple[_Group, ...] = (
    _group(
        "capability",
        "tools",
        1,
        "what time",
        "time is it",
        "what's the time !complexity",
        "today's date",
        "what's the date",
        "what is the date",
        "right now",
        "today",
        *_each("this {}", "week", "sunday", "monday", "saturday", "year"),
        "latest",
        "current",
        "currently",
        "news",
        "search the web",
        "search for",
        "search online",
        "look up",
        "browse",
        *_each("find {}", "papers", "studies", "articles", "sources"),
        *_each("find recent {}", "papers", "studies", "articles"),
        "remind me",
        "set a timer",
        "set a reminder",
        "set an alarm",
        "weather",
        *_each("run {}", "this", "the", "these", "it"),
        "execute",
        "opening hours",
        "qué hora",
        "quelle heure",
        "wie spät",
    ),
    # Nouns that mean "look at this picture" when a determiner points at one (see _vision).
    _group(
        "vision",
        "vision",
        1,
        "image",
        "photo",
        "picture",
        "chart",
        "graph",
        "diagram",
        "panel",
        "scan",
        "mockup",
        "screenshot",
        "screenshots",
    ),
    _group(
        "capability",
        "reasoning",
        1,
        "prove",
        "proof",
        "step by step",
        "trade-off",
        "trade-offs",
        "tradeoffs",
        "compare",
        "why",
        "reason",
        "reasoning",
        "derive",
        "solve",
        "estimate",
        "calculate",
        "calculation",
        "pros and cons",
    ),
)

# Flags the decision steps ask about.
_FLAG_GROUPS: tuple[_Group, ...] = (
    # Starting with one of these verbs and naming technology means "make me some software".
    _group(
        "build",
        "coding",
        5,
        "write",
        "implement",
        "build",
        "create",
        "set up",
        "add",
        "make",
        "generate",
        "design",
        "develop",
        "configure",
        "migrate",
        "port",
        "refactor",
        "rewrite",
        "re-write",
        "convert",
        "update",
        "fix",
        "écris",
        "crée",
        "schreib",
        "schreibe",
        "erstelle",
        "escribe",
        "crea",
    ),
    # Verbs asking for a new artefact rather than a small edit: never a "simple" coding task.
    _group(
        "substantial",
        "coding",
        0,
        "write",
        "implement",
        "build",
        "create",
        "set up",
        "design",
        "develop",
        "refactor",
        "migrate",
        "port",
        "apply",
        "update",
        "review",
        "escribe",
        "schreib",
        "schreibe",
    ),
    # What a build verb can be aimed at even when no technology is named ("write a function").
    _group(
        "artefact",
        "coding",
        0,
        "function",
        "script",
        "class",
        "query",
        "component",
        "hook",
        "dockerfile",
        "workflow",
        "config",
        "module",
        "middleware",
        "endpoint",
        "unit file",
        "playbook",
        "playbooks",
        "operator",
        "tests",
        "docstring",
        "docstrings",
        "readme",
    ),
    # Research about a technology's past, not its use, is general knowledge.
    _group(
        "trivia",
        "general",
        0,
        "history of",
        "origin of",
        "origins of",
        "first released",
        "who invented",
        "who started",
        "who founded",
    ),
    # Creative writing is general unless it is copy for a user interface.
    _group("ui_copy", "frontend", 0, "404", "widget", "tooltip", "button label"),
    _group(
        "advice",
        "conversation",
        0,
        "any advice",
        "any tips",
        "what can i do",
        "what do you think",
        "not sure what to do",
        "i've been feeling",
    ),
    # A research question asking for one fact rather than an explanation.
    _group(
        "single_fact",
        "research",
        0,
        "who",
        "when",
        "where",
        "population",
        "capital",
        "tallest",
        "highest",
        "boiling point",
        "version",
        "which browsers",
        "opening hours",
        "wer hat",
        "quién",
        "一番",
        "どこ",
        "誰",
        "いつ",
    ),
    _group(
        "conversation_ref",
        "summarization",
        0,
        "so far",
        *_each("this {}", "chat", "conversation", "thread"),
        *_each("we {}", "discussed", "made", "said", "decided"),
        "we've discussed",
        "above",
    ),
)

# The few cues that are genuinely patterns (numbers, bounded gaps). Each starts with a literal
# (no leading \b) so the regex engine can skip ahead to candidates, and each only ever sees
# the ask.
_PATTERN_CUES: tuple[tuple[_Group, re.Pattern[str]], ...] = tuple(
    (_group(kind, target, weight, label), re.compile(pattern))
    for kind, target, weight, label, pattern in (
        (
            "task",
            "coding",
            6,
            "how do I ... in <language>",
            r"how (?:do|can|would|should) (?:i|we|you) [^?\n]{0,60}(?:in|with|using) "
            r"(?:python|javascript|js|typescript|css|html|sql|bash|go|rust|react|django|git|"
            r"docker)\b",
        ),
        (
            "task",
            "coding",
            6,
            "how do I <edit>",
            r"how (?:do|can) i (?:make|list|rename|reverse|sort|center|add|remove|delete|undo|"
            r"revert|convert|read|parse)\b",
        ),
        (
            "task",
            "research",
            4,
            "how does ... work",
            r"how (?:does|do|did) [^?\n]{0,60}(?:work|decide|train|cache|handle)",
        ),
        ("task", "research", 4, "what does the ... do", r"what does the \w+ do\b"),
        ("task", "analysis", 6, "X or Y for ...", r" or \w+ for an? "),
        ("task", "analysis", 6, "is N GB enough", r"is \d+ ?[gm]b [^?\n]{0,40}enough"),
        ("task", "conversation", 6, "what's N% of", r"what(?:'s| is) \d+(?:[.,]\d+)? ?% of"),
        ("complexity", "complex", 3, "1000+ words", r"[1-9]\d{3} words"),
        ("complexity", "complex", 1, "with ... tests", r"with (?:[\w-]+ ){0,2}tests\b"),
        (
            "complexity",
            "complex",
            3,
            "rewrite this code",
            r"re-?write (?:this|our|the) (?:[\w-]+ ){0,3}(?:code|module|class|service|app|"
            r"codebase|components?)\b",
        ),
    )
)


# --------------------------------------------------------------------------------------------
# The lexicon: phrase tables compiled into a dictionary keyed by first token.
# --------------------------------------------------------------------------------------------

# Words, with the joiners that keep file names, versions and contractions in one token
# ("engine.py", "next.js", "what's"). Hyphens and slashes split, so spellings with and without
# them ("trade-off", "trade off") tokenize alike.
_TOKEN_RE = re.compile(r"\w+(?:['\u2019.]\w+)*")
_DETERMINERS = frozenset({"this", "the", "attached", "that", "my", "our"})
# Words that may precede the verb of a request: "ok thanks, now write ...", "can you fix ...".
_LEADING_FILLERS = frozenset(
    {"please", "pls", "can", "could", "would", "you", "now", "so", "then", "also", "and", "next"}
    | {"ok", "okay", "hey", "hi", "great", "thanks", "thank", "cool", "nice", "perfect"}
)


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def _is_spaceless_script(phrase: str) -> bool:
    return any(ord(char) >= 0x2E80 for char in phrase)


@dataclass(slots=True)
class _GroupHit:
    """Where a group first matched in the scanned text, and the distinct phrases that did."""

    group: _Group
    first_at: int
    phrases: list[str]


class _Lexicon:
    """Phrase lookup in one pass over the tokens of a text."""

    def __init__(
        self, groups: Iterable[_Group], extensions: dict[str, Domain] | None = None
    ) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str | None, _Group, str]]] = {}
        self._substrings: list[tuple[str, _Group]] = []
        # A file name is domain evidence: routing/engine.py, App.tsx, deploy.yaml.
        self._extensions: dict[str, _Group] = {
            ext: _group("domain", domain, 3, f"*.{ext}")
            for ext, domain in (extensions or {}).items()
        }
        for group in groups:
            for phrase in group.phrases:
                if _is_spaceless_script(phrase):
                    self._substrings.append((phrase, group))
                    continue
                text, _, forbidden = phrase.partition(" !")
                words = tuple(_tokens(text))
                entry = (words[1:], forbidden or None, group, text)
                self._by_first.setdefault(words[0], []).append(entry)

    def scan(self, text: str, tokens: list[str]) -> dict[int, _GroupHit]:
        """Group hits keyed by id(group); positions are token indexes."""
        hits: dict[int, _GroupHit] = {}
        count = len(tokens)
        by_first = self._by_first
        extensions = self._extensions
        for index, token in enumerate(tokens):
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
            for rest, forbidden, group, phrase in entries:
                end = index + 1 + len(rest)
                if rest and tuple(tokens[index + 1 : end]) != rest:
                    continue
                if forbidden is not None and end < count and tokens[end] == forbidden:
                    continue
                _record(hits, group, index, phrase)
        for phrase, group in self._substrings:
            at = text.find(phrase)
            if at >= 0:
                _record(hits, group, count if at else 0, phrase)
        return hits


def _record(hits: dict[int, _GroupHit], group: _Group, index: int, phrase: str) -> None:
    hit = hits.get(id(group))
    if hit is None:
        hits[id(group)] = _GroupHit(group, index, [phrase])
    elif phrase not in hit.phrases:
        hit.phrases.append(phrase)
        hit.first_at = min(hit.first_at, index)


_ASK_LEXICON = _Lexicon(
    (*_TASK_GROUPS, *_COMPLEXITY_GROUPS, *_DOMAIN_GROUPS, *_CAPABILITY_GROUPS, *_FLAG_GROUPS),
    _EXTENSION_DOMAIN,
)
_BODY_LEXICON = _Lexicon(_DOMAIN_GROUPS, _EXTENSION_DOMAIN)

# --------------------------------------------------------------------------------------------
# Shape of pasted material.
# --------------------------------------------------------------------------------------------

_QUESTION_END_RE = re.compile(r"[?\uff1f]\s*$")  # ASCII or full-width (CJK) question mark
_QUESTION_WORDS = frozenset(
    {"what", "who", "when", "where", "why", "how", "which", "is", "are", "can", "could"}
    | {"should", "does", "do", "what's"}
)
# Lines that look like source code, across the languages users paste most.
_CODE_LINE_RE = re.compile(
    r"^[ \t]*(?:def |class |import |from [\w.]+ import|return\b|const |let |var |function\b|"
    r"export |async |await |public |private |fn |func |package |#include|@\w+|"
    r"<[a-zA-Z][\w-]*[ >/]|[}\])]+;?[ \t]*$|\w+(?:\.\w+)*[ \t]*[+\-*/]?=[ \t]*\S|"
    r"(?:if|for|while|elif|else|try|except)\b[^\n]{0,120}[:{][ \t]*$|[^\n]{0,200};[ \t]*$)",
    re.MULTILINE,
)
_LOG_LINE_RE = re.compile(
    r"^[ \t]*(?:\[?\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}|Traceback \(most recent call last\)|"
    r"File \"[^\"\n]{1,200}\", line \d+|##\[\w+\]|E {3,}\w|[\w.]{0,80}(?:Error|Exception):|"
    r"(?:Normal|Warning) {2,}\w)",
    re.MULTILINE,
)
_FENCE_LANG_RE = re.compile(r"```([a-zA-Z+#-]{1,12})")
# "a, b, c and d" after a colon: an enumerated list of things to do or consider.
_LIST_AFTER_COLON_RE = re.compile(r":[ \t]+([^\n.?!:]{10,400})")
_LIST_SPLIT_RE = re.compile(r",\s+|;\s+|\s+(?:and|und|et|y)\s+")
_CLAUSE_RE = re.compile(r",\s|;\s|\s(?:and|und|et|y)\s")
_SENTENCE_END_RE = re.compile(r"[.?!](?:\s|$)")
# "Summarize this: <text>": the instruction ends at an early colon followed by material.
_INSTRUCTION_MAX_CHARS = 120
_INSTRUCTION_MIN_MATERIAL = 40

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


@dataclass(slots=True)
class _Features:
    """Everything the decision steps need, computed once per message."""

    text_len: int
    ask: str
    instruction: str
    tokens: list[str]
    hits: list[_GroupHit]
    material_chars: int
    material_lines: int
    fences: int
    code_lines: int
    log_lines: int
    domain_scores: dict[Domain, int]
    ask_tech_score: int
    signals: list[str]

    def flag(self, kind: str) -> _GroupHit | None:
        for hit in self.hits:
            if hit.group.kind == kind:
                return hit
        return None

    def of_kind(self, kind: str) -> list[_GroupHit]:
        return [hit for hit in self.hits if hit.group.kind == kind]


def _split_ask(head: str, text: str) -> tuple[str, str]:
    """Separate what the user asks from what they pasted.

    People put the instruction first ("summarize this:", "fix this") or right after the pasted
    block ("...what's wrong?"), so the ask is the first paragraph before any code fence plus the
    short paragraph after the last fence. Keyword cues only look at the ask, which is what stops
    the words inside a pasted article or log from deciding the task.
    """
    fence_at = head.find("```")
    before_fence = head if fence_at < 0 else head[:fence_at]
    paragraphs = before_fence.strip().split("\n\n", 2)
    lead = paragraphs[0]
    # "hey, quick question\n\nhow do I ..." - a greeting alone is not the ask.
    if len(lead) < 40 and len(paragraphs) > 1:
        lead = f"{lead}\n{paragraphs[1]}"
    lead = lead[:_ASK_HEAD_CHARS]

    tail = ""
    ending = text[-_HEAD_CHARS:]
    if fence_at >= 0:
        last_fence = ending.rfind("```")
        after = ending[last_fence + 3 :].strip() if last_fence >= 0 else ""
        if 0 < len(after) <= _ASK_HEAD_CHARS:
            tail = after[:_ASK_TAIL_CHARS]
    elif len(paragraphs) > 1 and (_CODE_LINE_RE.search(lead) or _LOG_LINE_RE.search(lead)):
        # Opened with a paste: the question is most likely the last paragraph.
        last = ending.rstrip().rsplit("\n\n", 1)[-1]
        if len(last) <= _ASK_TAIL_CHARS and last not in lead:
            tail = last
    return lead, tail


def _instruction(lead: str) -> str:
    """The instruction part of "summarize this: <pasted text>": up to its colon or "?"."""
    for index, char in enumerate(lead[:_INSTRUCTION_MAX_CHARS]):
        if char in ":?\uff1f" and len(lead) - index > _INSTRUCTION_MIN_MATERIAL:
            return lead[: index + 1]
    return lead


def _requirement_score(ask: str, signals: list[str]) -> int:
    """More separate requirements in the ask means more work, however each is phrased."""
    instruction = ask[:_ASK_HEAD_CHARS]
    clauses = len(_CLAUSE_RE.findall(instruction))
    sentences = len(_SENTENCE_END_RE.findall(instruction))
    listed = 0
    match = _LIST_AFTER_COLON_RE.search(instruction)
    if match:
        items = [item for item in _LIST_SPLIT_RE.split(match.group(1)) if item.strip()]
        # "Jan 120, Feb 135, ..." is data, not a list of things to do.
        data_items = sum(1 for item in items if len(item.split()) <= 2 and _has_digit(item))
        if data_items * 2 < len(items):
            listed = len(items)
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


def _has_digit(value: str) -> bool:
    return any(char.isdigit() for char in value)


def _domain_scores(
    hits: list[_GroupHit], body: str, has_fences: bool, fence_langs: list[str]
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
        for hit in _BODY_LEXICON.scan(sample, _tokens(sample)).values():
            scores[hit.group.target] += body_weight * min(len(hit.phrases), 3)  # type: ignore[index]
    for lang in {lang.lower() for lang in fence_langs}:
        lang_domain = _FENCE_LANG_DOMAIN.get(lang)
        if lang_domain:
            scores[lang_domain] += 3
    return scores, ask_tech


class RuleBasedClassifier:
    """Phrase, pattern and shape cues; cheap enough to run on every message.

    Rules rather than a model because the classifier sits on the hot path of every chat turn
    and its verdict must be explainable: each cue that fires is written to ``signals``.
    """

    def classify(self, text: str, context: ClassifierContext | None = None) -> Classification:
        context = context or ClassifierContext()
        features = self._extract(text, context)
        task = self._task_type(features)
        complexity = self._complexity(task, features, context)
        domain = self._domain(task, features)
        capabilities = self._capabilities(task, complexity, features, context)
        return Classification(
            task_type=task,
            complexity=complexity,
            domain=domain,
            cost_tier=_cost_tier(task, complexity),
            capabilities=capabilities,
            signals=tuple(features.signals),
        )

    # ---------------------------------------------------------------- features

    def _extract(self, text: str, context: ClassifierContext) -> _Features:
        signals: list[str] = []
        text_len = len(text)
        head = text[:_HEAD_CHARS]
        lead, tail = _split_ask(head, text)
        ask = (f"{lead}\n{tail}" if tail else lead).lower().replace("\u2019", "'")
        tokens = _tokens(ask)
        hits = list(_ASK_LEXICON.scan(ask, tokens).values())
        for group, pattern in _PATTERN_CUES:
            match = pattern.search(ask)
            if match:
                hits.append(_GroupHit(group, len(tokens), [match.group(0).strip()]))

        shape = head[:_SHAPE_SCAN_CHARS]
        fences = head.count("```") // 2
        multiline = "\n" in shape
        code_lines = len(_CODE_LINE_RE.findall(shape)) if multiline else 0
        log_lines = len(_LOG_LINE_RE.findall(shape)) if multiline else 0
        fence_langs = _FENCE_LANG_RE.findall(head) if fences else []
        body = head[len(lead) :] if len(head) > len(lead) + 1 else ""
        domain_scores, ask_tech = _domain_scores(hits, body, bool(fences), fence_langs)
        instruction = _instruction(lead)

        if fences:
            signals.append("code fence")
        if code_lines >= 3:
            signals.append(f"{code_lines} code-looking lines")
        if log_lines >= 2:
            signals.append(f"{log_lines} log lines")
        if _QUESTION_END_RE.search(ask) or (tokens and tokens[0] in _QUESTION_WORDS):
            signals.append("question form")
        signals.append(f"length {text_len} chars")
        if context.conversation_tokens:
            signals.append(f"conversation {_format_tokens(context.conversation_tokens)} tokens")
        if context.has_images:
            signals.append("image attached")
        if context.attachments:
            signals.append(f"{context.attachments} attachment(s)")

        material = body.strip()
        return _Features(
            text_len=text_len,
            ask=ask,
            instruction=instruction,
            tokens=tokens,
            hits=hits,
            material_chars=max(0, text_len - len(instruction)),
            material_lines=material.count("\n") + 1 if material else 0,
            fences=fences,
            code_lines=code_lines,
            log_lines=log_lines,
            domain_scores=domain_scores,
            ask_tech_score=ask_tech,
            signals=signals,
        )

    # ---------------------------------------------------------------- task type

    def _task_type(self, f: _Features) -> TaskType:
        if not f.tokens and not f.ask.strip():
            f.signals.append("empty message")
            return "conversation"

        scores: dict[TaskType, int] = dict.fromkeys(TASK_TYPES, 0)
        for hit in f.of_kind("task"):
            group = hit.group
            if group.max_ask_chars and len(f.ask) > group.max_ask_chars:
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
        if f.fences or f.code_lines >= 3:
            scores["coding"] += 3
        # A log without code and without a request to change anything is a diagnosis.
        if f.log_lines >= 2 and f.code_lines < 3:
            scores["analysis"] += 2

        best = max(_TASK_PRIORITY, key=lambda task: scores[task])
        if scores[best] > 0:
            return best

        # Nothing fired: an open question is most likely a question about the world, a
        # statement full of technical terms is most likely a request about code, and anything
        # else is chat.
        if "question form" in f.signals and f.text_len > 25:
            f.signals.append("open question")
            return "research"
        if f.ask_tech_score >= _TECHNICAL_STATEMENT_SCORE:
            f.signals.append("technical statement")
            return "coding"
        f.signals.append("no task cue")
        return "conversation"

    # ---------------------------------------------------------------- complexity

    def _complexity(self, task: TaskType, f: _Features, context: ClassifierContext) -> Complexity:
        if task == "conversation":
            if f.flag("advice"):
                f.signals.append("asks for advice")
                return "moderate"
            return "simple"

        score = 0
        for hit in f.of_kind("complexity"):
            score += hit.group.weight * len(hit.phrases)
            f.signals.append(f"{hit.group.target} cue '{', '.join(hit.phrases)}'")
        # A summary's requirements are in its instruction; the clauses of the pasted text it
        # condenses are not work items.
        requirements = f.instruction if task == "summarization" else f.ask
        score += _requirement_score(requirements, f.signals)

        if task == "summarization":
            score += self._summary_size_score(f, context)
        elif f.material_chars >= 2000:
            score += 2
            f.signals.append("large pasted material")
        elif f.code_lines >= 20:
            score += 1

        if score >= 3:
            return "complex"
        if score < 0:
            return "simple"
        if self._looks_simple(task, f):
            return "simple"
        return "moderate"

    @staticmethod
    def _summary_size_score(f: _Features, context: ClassifierContext) -> int:
        """A summary's difficulty is the size of what it condenses."""
        if f.material_chars < 40 and f.flag("conversation_ref"):
            tokens = context.conversation_tokens
            if tokens >= 80_000:
                f.signals.append("summarizes a long conversation")
                return 3
            return 0 if tokens >= 5_000 else -1
        if f.material_chars >= 2500:
            f.signals.append("large material to condense")
            return 3
        if f.material_chars < 300 and f.material_lines < 5:
            return -1
        return 0

    @staticmethod
    def _looks_simple(task: TaskType, f: _Features) -> bool:
        short_ask = len(f.ask) <= 100 and f.material_chars < 200
        if task == "research":
            return short_ask and f.flag("single_fact") is not None
        if task == "coding":
            substantial = f.flag("substantial")
            return (
                short_ask
                and f.code_lines <= 4
                and not (substantial and _at_start(f.tokens, substantial.first_at))
            )
        return False

    # ---------------------------------------------------------------- domain

    def _domain(self, task: TaskType, f: _Features) -> Domain:
        if task == "conversation":
            return "general"
        if task == "creative":
            if f.flag("ui_copy"):
                f.signals.append("UI copy")
                return "frontend"
            return "general"
        if task == "research" and f.flag("trivia"):
            f.signals.append("history or trivia")
            return "general"

        scores = f.domain_scores
        best = max(_DOMAIN_PRIORITY, key=lambda domain: scores[domain])
        if task == "coding":
            # Code always belongs to some speciality; general-purpose code is backend.
            if scores[best] <= 0:
                return "backend"
        elif scores[best] < _DOMAIN_MIN_SCORE:
            return "general"
        f.signals.append(f"domain {best} ({scores[best]})")
        return best

    # ---------------------------------------------------------------- capabilities

    def _capabilities(
        self,
        task: TaskType,
        complexity: Complexity,
        f: _Features,
        context: ClassifierContext,
    ) -> frozenset[Capability]:
        caps: set[Capability] = set()
        for hit in f.of_kind("capability"):
            caps.add(hit.group.target)  # type: ignore[arg-type]
        if context.has_images or _mentions_picture(f):
            caps.add("vision")
        estimated_tokens = context.conversation_tokens + f.text_len // 4
        if estimated_tokens > LONG_CONVERSATION_TOKENS or f.text_len > LONG_MESSAGE_CHARS:
            caps.add("long-context")
        if task == "analysis" or (
            complexity == "complex" and task in ("coding", "analysis", "research")
        ):
            caps.add("reasoning")
        return frozenset(caps)


def _at_start(tokens: list[str], index: int) -> bool:
    """Whether the token at index opens the ask, allowing "please", "can you" and the like."""
    return index < len(tokens) and all(token in _LEADING_FILLERS for token in tokens[:index])


def _mentions_picture(f: _Features) -> bool:
    """ "this screenshot", "the Grafana panel", "attached image" - not "two charts"."""
    hit = f.flag("vision")
    if hit is None:
        return False
    if "screenshot" in hit.phrases or "screenshots" in hit.phrases:
        return True
    nouns = set(hit.phrases)
    tokens = f.tokens
    for index, token in enumerate(tokens):
        if (
            token in nouns
            and index >= 1
            and (
                tokens[index - 1] in _DETERMINERS
                or (index >= 2 and tokens[index - 2] in _DETERMINERS)
            )
        ):
            return True
    return False


def _cost_tier(task: TaskType, complexity: Complexity) -> CostTier:
    """Cheap chat, premium hard work, everything else in between."""
    if complexity == "complex":
        return "premium"
    if complexity == "simple" and task == "conversation":
        return "cheap"
    return "standard"


def _format_tokens(tokens: int) -> str:
    return f"{tokens // 1000}k" if tokens >= 1000 else str(tokens)


DEFAULT_CLASSIFIER: Classifier = RuleBasedClassifier()


def classify(text: str, context: ClassifierContext | None = None) -> Classification:
    """Classify one chat message with the default classifier."""
    return DEFAULT_CLASSIFIER.classify(text, context)
