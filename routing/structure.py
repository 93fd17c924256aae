"""The shape of a request, apart from its words: what is asked, what is pasted, how much.

Both tiers of the classifier read it. Complexity in particular follows the structure of a
request more than its vocabulary: how many separate requirements it lists, how many
deliverables it asks for (code *and* tests *and* a benchmark), which demanding constraints it
sets (thread-safe, offline, exactly-once), how long it is, how much code or log is attached,
and how long the conversation already is.

Only bounded slices of the text are scanned, so a 1 MB paste costs the same as a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from routing.lexicon import Concepts, Lexicon, tokens
from routing.vocabulary import ClassifierContext

# The ask (what the user wants) is at the start of a message or right after pasted code;
# pasted material is only sampled for its shape (code, logs) and its vocabulary (domain).
ASK_HEAD_CHARS = 500
ASK_TAIL_CHARS = 200
HEAD_CHARS = 3000
SHAPE_SCAN_CHARS = 2000
# Requirements are counted in the request part of a message, up to this far in.
REQUEST_SCAN_CHARS = 1500

QUESTION_END_RE = re.compile(r"[?\uff1f]\s*$")  # ASCII or full-width (CJK) question mark
QUESTION_WORDS = frozenset(
    {"what", "who", "when", "where", "why", "how", "which", "is", "are", "can", "could"}
    | {"should", "does", "do", "what's"}
)
# Lines that look like source code, across the languages users paste most.
CODE_LINE_RE = re.compile(
    r"^[ \t]*(?:def |class |import |from [\w.]+ import|return\b|const |let |var |function\b|"
    r"export |async |await |public |private |fn |func |package |#include|@\w+|"
    r"<[a-zA-Z][\w-]*[ >/]|[}\])]+;?[ \t]*$|\w+(?:\.\w+)*[ \t]*[+\-*/]?=[ \t]*\S|"
    r"(?:if|for|while|elif|else|try|except)\b[^\n]{0,120}[:{][ \t]*$|[^\n]{0,200};[ \t]*$)",
    re.MULTILINE,
)
LOG_LINE_RE = re.compile(
    r"^[ \t]*(?:\[?\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}|Traceback \(most recent call last\)|"
    r"File \"[^\"\n]{1,200}\", line \d+|##\[\w+\]|E {3,}\w|[\w.]{0,80}(?:Error|Exception):|"
    r"(?:Normal|Warning) {2,}\w)",
    re.MULTILINE,
)
FENCE_LANG_RE = re.compile(r"```([a-zA-Z+#-]{1,12})")
# A line that is an item of a list the user wrote: "- x", "* x", "• x", "1. x", "2) x", "a) x".
LIST_ITEM_RE = re.compile(r"^[ \t]*(?:[-*\u2022\u30fb]|\d{1,2}[.)\u3001]|[a-h]\))[ \t]+\S", re.M)
# "a, b, c and d" after a colon: an enumerated list of things to do or consider.
LIST_AFTER_COLON_RE = re.compile(r":[ \t]+([^\n.?!:]{10,400})")
LIST_SPLIT_RE = re.compile(r",\s+|;\s+|\s+(?:and|und|et|y)\s+")
CLAUSE_RE = re.compile(r",\s|;\s|\s(?:and|und|et|y)\s")
SENTENCE_END_RE = re.compile(r"[.?!](?:\s|$)")
# "Summarize this: <text>": the instruction ends at an early colon followed by material.
_INSTRUCTION_MAX_CHARS = 120
_INSTRUCTION_MIN_MATERIAL = 40


@dataclass(frozen=True, slots=True)
class RequestShape:
    """Everything about a message that is not a phrase lookup, computed once."""

    text_len: int
    head: str
    lead: str  # the first paragraph (plus a short greeting's follow-up), as typed
    ask: str  # lead + the short paragraph after pasted code, lower case
    instruction: str  # "summarize this:" of "summarize this: <text>"
    body: str  # the head after the lead: pasted material or the rest of the request
    ask_tokens: list[str]
    fences: int
    fence_langs: tuple[str, ...]
    code_lines: int
    log_lines: int
    question: bool
    material_chars: int
    material_lines: int
    list_items: int  # bulleted or numbered lines the user wrote
    listed: int  # items of an inline "x: a, b, c and d" list
    clauses: int
    sentences: int
    deliverables: tuple[str, ...]  # distinct kinds of deliverable asked for
    constraints: tuple[str, ...]  # distinct demanding constraints set
    conversation_tokens: int
    message_count: int

    @property
    def requirements(self) -> int:
        """How many separate things the request asks for, however they are written."""
        return max(self.list_items, self.listed, self.clauses // 2)


def split_ask(head: str, text: str) -> tuple[str, str]:
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
    lead = lead[:ASK_HEAD_CHARS]

    tail = ""
    ending = text[-HEAD_CHARS:]
    if fence_at >= 0:
        last_fence = ending.rfind("```")
        after = ending[last_fence + 3 :].strip() if last_fence >= 0 else ""
        if 0 < len(after) <= ASK_HEAD_CHARS:
            tail = after[:ASK_TAIL_CHARS]
    elif len(paragraphs) > 1 and (CODE_LINE_RE.search(lead) or LOG_LINE_RE.search(lead)):
        # Opened with a paste: the question is most likely the last paragraph.
        last = ending.rstrip().rsplit("\n\n", 1)[-1]
        if len(last) <= ASK_TAIL_CHARS and last not in lead:
            tail = last
    return lead, tail


def instruction_of(lead: str) -> str:
    """The instruction part of "summarize this: <pasted text>": up to its colon or "?"."""
    for index, char in enumerate(lead[:_INSTRUCTION_MAX_CHARS]):
        if char in ":?\uff1f" and len(lead) - index > _INSTRUCTION_MIN_MATERIAL:
            return lead[: index + 1]
    return lead


def inline_list_items(text: str) -> int:
    """Items of "consider: cost, risk, staffing and timeline" (0 when it is data, not a list)."""
    match = LIST_AFTER_COLON_RE.search(text)
    if not match:
        return 0
    items = [item for item in LIST_SPLIT_RE.split(match.group(1)) if item.strip()]
    # "Jan 120, Feb 135, ..." is data, not a list of things to do.
    data_items = sum(1 for item in items if len(item.split()) <= 2 and _has_digit(item))
    return len(items) if data_items * 2 < len(items) else 0


def _has_digit(value: str) -> bool:
    return any(char.isdigit() for char in value)


def _request_part(head: str, lead: str) -> str:
    """The part of the head the user wrote as a request: outside code fences, before a paste.

    A request often goes on after its first paragraph ("Requirements:\\n- ...\\n- ..."), so this
    reaches past the lead, but stops at the first code fence and skips log lines.
    """
    fence_at = head.find("```")
    part = head if fence_at < 0 else head[:fence_at]
    return part[:REQUEST_SCAN_CHARS] if len(part) > len(lead) else lead


class ShapeReader:
    """Computes a RequestShape; holds the deliverable and constraint lexicon."""

    def __init__(self, concepts: Concepts) -> None:
        self._structure = Lexicon((*concepts.deliverables, *concepts.constraints))

    def read(self, text: str, context: ClassifierContext) -> RequestShape:
        head = text[:HEAD_CHARS]
        lead, tail = split_ask(head, text)
        ask = (f"{lead}\n{tail}" if tail else lead).lower().replace("\u2019", "'")
        ask_tokens = tokens(ask)
        shape = head[:SHAPE_SCAN_CHARS]
        fences = head.count("```") // 2
        multiline = "\n" in shape
        code_lines = len(CODE_LINE_RE.findall(shape)) if multiline else 0
        log_lines = len(LOG_LINE_RE.findall(shape)) if multiline else 0
        fence_langs = tuple(FENCE_LANG_RE.findall(head)) if fences else ()
        body = head[len(lead) :] if len(head) > len(lead) + 1 else ""
        instruction = instruction_of(lead)
        material = body.strip()

        request = _request_part(head, lead).lower().replace("\u2019", "'")
        list_items = len(LIST_ITEM_RE.findall(request)) if "\n" in request else 0
        scan_text = request[: ASK_HEAD_CHARS + REQUEST_SCAN_CHARS]
        hits = self._structure.scan(scan_text, tokens(scan_text)).values()
        deliverables = tuple(sorted(h.group.target for h in hits if h.group.kind == "deliverable"))
        constraints = tuple(sorted(h.group.target for h in hits if h.group.kind == "constraint"))
        instruction_part = ask[:ASK_HEAD_CHARS]
        return RequestShape(
            text_len=len(text),
            head=head,
            lead=lead,
            ask=ask,
            instruction=instruction,
            body=body,
            ask_tokens=ask_tokens,
            fences=fences,
            fence_langs=fence_langs,
            code_lines=code_lines,
            log_lines=log_lines,
            question=bool(QUESTION_END_RE.search(ask))
            or bool(ask_tokens and ask_tokens[0] in QUESTION_WORDS),
            material_chars=max(0, len(text) - len(instruction)),
            material_lines=material.count("\n") + 1 if material else 0,
            list_items=list_items,
            listed=inline_list_items(instruction_part),
            clauses=len(CLAUSE_RE.findall(instruction_part)),
            sentences=len(SENTENCE_END_RE.findall(instruction_part)),
            deliverables=deliverables,
            constraints=constraints,
            conversation_tokens=context.conversation_tokens,
            message_count=context.message_count,
        )
