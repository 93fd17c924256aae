"""Fake upstream LLM servers: each speaks one provider's real wire protocol on loopback.

The test suite points the official SDKs at them (the fixtures live in ``tests/fakes/``), and
``mosaic fake-upstream PROVIDER`` runs one on its own so that Mosaic can be tried, developed
and benchmarked without a provider key (``serve.py``). They are test doubles: a fake answers
every chat request with a scripted reply, whatever it is asked.
"""

# The command's choices and defaults live here, not in serve.py, so that building the ``mosaic``
# parser does not import aiohttp.
PROVIDERS = ("anthropic", "openai", "openrouter", "zai", "ollama")
DEFAULT_PORT = 9100
DEFAULT_DELAY = 0.02  # seconds between streamed chunks
DEFAULT_CHUNK = 8  # characters per streamed chunk
