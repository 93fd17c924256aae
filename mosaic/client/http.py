"""A small HTTP client for the Mosaic REST API, with errors as one readable sentence."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Talking to the server failed; the message says what to do."""


class ApiClient:
    def __init__(self, server: str, token: str = "", timeout: float = 15.0) -> None:
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ClientError(
                f"cannot reach the Mosaic server at {self.server}; is it running (`make run`)?"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"request to {self.server} failed: {exc}") from None
        if response.status_code == 401:
            raise ClientError(
                "the server did not accept your credentials; run `mosaic login` again."
            )
        if response.status_code == 404:
            raise ClientError(_detail(response) or f"{self.server} has no {path}.")
        if response.status_code >= 400:
            raise ClientError(f"the server answered {response.status_code}: {_detail(response)}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def issue_token(self, username: str, password: str) -> str:
        try:
            response = self._client.post(
                "/api/auth/token", json={"username": username, "password": password}
            )
        except httpx.ConnectError:
            raise ClientError(
                f"cannot reach the Mosaic server at {self.server}; is it running?"
            ) from None
        if response.status_code == 401:
            raise ClientError("invalid username or password.")
        if response.status_code != 201:
            raise ClientError(f"the server answered {response.status_code}: {_detail(response)}")
        return str(response.json()["token"])


def _detail(response: httpx.Response) -> str:
    """The server's reason in one line; never an HTML page (a proxy's or Django's error page)."""
    try:
        data = response.json()
    except ValueError:
        content_type = response.headers.get("content-type", "")
        text = response.text.strip()
        if "html" in content_type or text.startswith("<"):
            return "" if response.status_code == 404 else response.reason_phrase
        return " ".join(text.split())[:200]
    if isinstance(data, dict):
        if "detail" in data:
            return str(data["detail"])
        return "; ".join(f"{k}: {v}" for k, v in data.items())[:300]
    return str(data)[:300]
