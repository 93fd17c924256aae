"""The OpenAI-compatible endpoint: a second door onto the chat turn (docs/openai-api.md)."""
