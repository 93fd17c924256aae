"""One socket's chat state: whose it is, which conversation, agent and model, and what it has
already been sent. The turn, the commands and the fan-out all read and update this; nothing here
does I/O.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings

from agents import live
from agents.models import AgentConfig
from agents.protocol import RoutingInfo, ServerFrame, SessionInfo
from agents.selectors import agent_routing_profile
from providers import catalog
from routing.decision import AgentProfile
from routing.engine import parse_ref

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Context window assumed for a model the catalog does not know; an unknown local model may
# have a small one, and Ollama truncates silently.
DEFAULT_WINDOW = 128_000
OLLAMA_UNKNOWN_WINDOW = 8_192

Send = Callable[[ServerFrame], Awaitable[None]]


def model_window(provider: str, model: str) -> int:
    spec = catalog.get_spec(provider, model)
    if spec is not None:
        return spec.context_window
    return OLLAMA_UNKNOWN_WINDOW if provider == "ollama" else DEFAULT_WINDOW


def split_model_ref(ref: str) -> tuple[str, str]:
    """``"provider:model"`` (or a bare catalog id) as a pair; an unknown ref is split as written."""
    known = parse_ref(ref)
    if known is not None:
        return known
    provider, _, model = ref.partition(":")
    return provider, model


@dataclass(frozen=True)
class AgentView:
    """The parts of an ``AgentConfig`` a turn needs, loaded once per session or switch."""

    slug: str
    name: str
    system_prompt: str
    tool_allowlist: tuple[str, ...]
    profile: AgentProfile  # its routing view: domains, preferred and default models

    @classmethod
    def of(cls, agent: AgentConfig) -> AgentView:
        return cls(
            slug=agent.slug,
            name=agent.name,
            system_prompt=agent.system_prompt,
            tool_allowlist=tuple(agent.tool_allowlist or ()),
            profile=agent_routing_profile(agent),
        )

    @property
    def default_model(self) -> str:
        """``"provider:model"``, or "" when the agent leaves the choice to routing."""
        return self.profile.default_model


@dataclass
class ChatSession:
    """One socket's state. The turn task outlives the socket: a reply keeps streaming to the
    conversation's other sockets (and into the database) if this one drops."""

    user: User
    channel_name: str
    send: Send
    session_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    agent: AgentView | None = None
    model_override: str = ""
    provider: str = ""
    model: str = ""
    routing: RoutingInfo | None = None
    context_tokens: int = 0
    connected: bool = True
    turn_task: asyncio.Task[None] | None = None
    # Delivery bookkeeping for a socket that joined mid-turn: which turn's deltas it has seen up
    # to which index, and which messages it already has complete (from the history).
    seen_turn: str = ""
    seen_index: int = 0
    known_ids: set[str] = field(default_factory=set)

    @property
    def group(self) -> str:
        return live.group_name(self.user.pk, self.conversation_id)

    @property
    def turn_running(self) -> bool:
        return self.turn_task is not None and not self.turn_task.done()

    def expect_model(self) -> None:
        """What the next message will use as far as anyone can tell before routing decides: the
        pinned model, else the agent's default, else the installation's. The one place that
        guesses (on open, after ``/agent`` and after ``/model auto``)."""
        ref = (
            self.model_override
            or (self.agent.default_model if self.agent else "")
            or settings.MOSAIC_DEFAULT_MODEL
        )
        self.provider, self.model = split_model_ref(ref)
        self.routing = None

    @property
    def window(self) -> int:
        return model_window(self.provider, self.model)

    def info(self) -> SessionInfo:
        return SessionInfo(
            type="session:info",
            session_id=str(self.session_id),
            conversation_id=str(self.conversation_id),
            agent=self.agent.slug if self.agent else "",
            provider=self.provider,
            model=self.model,
            model_override=self.model_override,
            routing=self.routing,
        )
