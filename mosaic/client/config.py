"""The terminal client's config: server URL and API token, in the user's config dir, mode 0600."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class ClientConfig:
    server: str = ""
    token: str = ""
    username: str = ""


def config_path() -> Path:
    explicit = os.environ.get("MOSAIC_CLIENT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mosaic" / "client.json"


def load() -> ClientConfig:
    path = config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ClientConfig()
    return ClientConfig(
        server=str(data.get("server", "")),
        token=str(data.get("token", "")),
        username=str(data.get("username", "")),
    )


def save(config: ClientConfig) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    # Create with 0600 from the start: the token must never be readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(config), handle, indent=2)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path
