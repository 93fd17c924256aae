"""One channel client's chat state: whose it is, which conversation, agent and model, and what
it has already been sent. The turn, the commands and the fan-out all read and update this; its
events reach the client through its ``ChannelAdapter`` (``deliver``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings

from agents import channel as ch
from agents import live
from agents.models import AgentConfig
from agents.runtime import NO_CALLER_OPTIONS, CallerOptions
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
# How long switching conversations waits for a turn that has answered to finish its bookkeeping
BOOKKEEPING_WAIT_SECONDS = 10.0


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
    """One channel client's state. The turn task outlives the client: a reply keeps streaming
    to the conversation's other clients (and into the database) if this one drops.

    ``channel_name`` is its address on the channel layer (the Redis fan-out between processes)."""

    user: User
    channel_name: str
    adapter: ch.ChannelAdapter
    session_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    agent: AgentView | None = None
    model_override: str = ""
    provider: str = ""
    model: str = ""
    routing: ch.RouteLine | None = None
    context_tokens: int = 0
    memories_used: int = 0  # insights the last turn offered the model (``/history``)
    connected: bool = True
    turn_task: asyncio.Task[int] | None = None  # returns the tokens the turn used
    # The running turn has sent message:done: what its task still does is bookkeeping (the
    # checkpoint, the lock, the memory job), which a client may not wait for before it moves on.
    turn_answered: bool = False
    frame_at: float = 0.0  # when the socket's latest frame arrived (time.monotonic)
    # What this door's caller asked of its turns beyond the message (sampling, its own tools).
    caller: CallerOptions = NO_CALLER_OPTIONS
    # The status of a reply cut short by cancelling its turn: "cancelled" when someone asked to
    # stop; a door whose client simply went away (an HTTP request) says "failed".
    cancelled_status: str = "cancelled"
    # Delivery bookkeeping for a socket that joined mid-turn: which turn's deltas it has seen up
    # to which index, and which messages it already has complete (from the history).
    seen_turn: str = ""
    seen_index: int = 0
    known_ids: set[str] = field(default_factory=set)
    # The message of another client's turn this client is being streamed (through the channel
    # layer) and has not seen the end of: if the layer fails, ``fanout.catch_up`` reads the end
    # from the database.
    following: str = ""
    caught_up: str = ""  # the message whose end ``catch_up`` told (its group event is dropped)

    @property
    def group(self) -> str:
        return live.group_name(self.user.pk, self.conversation_id)

    async def deliver(self, event: ch.Outbound) -> None:
        await self.adapter.deliver(event)

    @property
    def turn_running(self) -> bool:
        return self.turn_task is not None and not self.turn_task.done()

    async def generating(self) -> bool:
        """Whether a reply is still being generated on this client: a turn that has already
        answered is given ``BOOKKEEPING_WAIT_SECONDS`` to finish what it does after
        message:done, since its client saw the reply end and may switch conversations."""
        task = self.turn_task
        if task is None or task.done():
            return False
        if self.turn_answered:
            await asyncio.wait({task}, timeout=BOOKKEEPING_WAIT_SECONDS)
        return not task.done()

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

    def state(self) -> ch.SessionState:
        return ch.SessionState(
            session_id=str(self.session_id),
            conversation_id=str(self.conversation_id),
            agent=self.agent.slug if self.agent else "",
            provider=self.provider,
            model=self.model,
            model_override=self.model_override,
            routing=self.routing,
        )

    def own_view(self, announced: ch.SessionState) -> ch.SessionState:
        """Another client's turn announced which model answers and why: that, as seen from this
        session (its own id, agent and pin; the pin of the other door is not this one's)."""
        return ch.SessionState(
            session_id=str(self.session_id),
            conversation_id=announced.conversation_id,
            agent=self.agent.slug if self.agent else announced.agent,
            provider=announced.provider,
            model=announced.model,
            model_override=self.model_override,
            routing=announced.routing,
        )
