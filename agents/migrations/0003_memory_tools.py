"""Give the system agents the memory tools (docs/memory.md, "Which agents remember").

general reads and writes memories and preferences; coding-agent reads them and saves durable
facts about the user's projects; research-bot only reads them. A user's own agents get the
tools only if the user puts them in the agent's allowlist. Idempotent: applying it again (the
test suite re-seeds after a flush) adds nothing twice.
"""

from django.db import migrations

MEMORY_TOOLS = {
    "general": [
        "memory_search",
        "memory_save_insight",
        "memory_get_preferences",
        "memory_set_preference",
    ],
    "coding-agent": ["memory_search", "memory_save_insight", "memory_get_preferences"],
    "research-bot": ["memory_search", "memory_get_preferences"],
}
PROMPT_NOTE = {
    "general": (
        "You remember what the user tells you about themselves across conversations: save "
        "durable facts with memory_save_insight and stated preferences with "
        "memory_set_preference, and look them up with memory_search and memory_get_preferences."
    ),
    "coding-agent": (
        "Use memory_search and memory_get_preferences to recall the user's stack, conventions "
        "and projects, and memory_save_insight for durable facts about them."
    ),
    "research-bot": (
        "Use memory_search and memory_get_preferences to tailor reports to what the user "
        "already told you."
    ),
}


def seed(apps, schema_editor):
    AgentConfig = apps.get_model("agents", "AgentConfig")
    for slug, tools in MEMORY_TOOLS.items():
        agent = AgentConfig.objects.filter(owner=None, slug=slug).first()
        if agent is None:
            continue
        agent.tool_allowlist = [
            *agent.tool_allowlist,
            *(t for t in tools if t not in agent.tool_allowlist),
        ]
        if PROMPT_NOTE[slug] not in agent.system_prompt:
            agent.system_prompt = f"{agent.system_prompt} {PROMPT_NOTE[slug]}"
        agent.save(update_fields=["tool_allowlist", "system_prompt"])


def unseed(apps, schema_editor):
    AgentConfig = apps.get_model("agents", "AgentConfig")
    for slug, tools in MEMORY_TOOLS.items():
        agent = AgentConfig.objects.filter(owner=None, slug=slug).first()
        if agent is None:
            continue
        agent.tool_allowlist = [t for t in agent.tool_allowlist if t not in tools]
        agent.system_prompt = agent.system_prompt.replace(f" {PROMPT_NOTE[slug]}", "")
        agent.save(update_fields=["tool_allowlist", "system_prompt"])


class Migration(migrations.Migration):
    dependencies = [("agents", "0002_system_agents")]
    operations = [migrations.RunPython(seed, unseed)]
