"""What ``GET /v1/models`` lists for a user: ``auto``, the agents they can use
(``agent:<slug>``), and every chat model of a provider they have a usable credential for, as
``provider:model`` (the ids ``POST /v1/chat/completions`` accepts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents import selectors as agent_selectors
from agents.openai_api.intake import AGENT_PREFIX, AUTO
from agents.openai_api.wire import model_entry
from providers.model_lists import available_models

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def model_list(*, user: User) -> list[dict[str, Any]]:
    entries = [model_entry(AUTO, "mosaic")]
    for agent in agent_selectors.agents_accessible(user=user):
        owner = "mosaic" if agent.is_system else user.get_username()
        created = int(agent.created_at.timestamp())
        entries.append(model_entry(f"{AGENT_PREFIX}{agent.slug}", owner, created))
    entries.extend(
        model_entry(spec.key, spec.provider)
        for spec in available_models(user=user).models
        if spec.embedding_dims is None
    )
    return entries
