"""Terminal commands that talk to a Mosaic server over its REST API (never to its internals).

``register(subparsers)`` is called by ``mosaic.cli``. One function per command, grouped by the
resource they act on; each prints its answer and returns an exit code, and every failure is one
line (``CommandError``), never a traceback. Commands for other resources (conversations, search)
go in their own section below with their own ``_register_<resource>``.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mosaic.client import config as client_config
from mosaic.client.http import ApiClient, ClientError
from mosaic.console import CommandError

# --- shared helpers ------------------------------------------------------------------------------

_SERVER_ANSWERED = re.compile(r"^the server answered \d{3}: ")


def _client(args: argparse.Namespace) -> ApiClient:
    config = client_config.load()
    server = (getattr(args, "server", None) or config.server).rstrip("/")
    if not server or not config.token:
        raise CommandError("you are not logged in; run `mosaic login --server URL` first.")
    return ApiClient(server, config.token)


def _call(client: ApiClient, method: str, path: str, **kwargs: Any) -> Any:
    """One API request; a failure becomes the server's own sentence as a CommandError."""
    try:
        return client.request(method, path, **kwargs)
    except ClientError as exc:
        raise CommandError(_SERVER_ANSWERED.sub("", str(exc))) from None


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _ms(value: Any) -> str:
    return f"{float(value):.0f} ms" if isinstance(value, int | float) else "-"


# --- providers -----------------------------------------------------------------------------------


def cmd_providers_list(args: argparse.Namespace) -> int:
    client = _client(args)
    listing = _call(client, "GET", "/api/providers")
    health = _call(client, "GET", "/api/providers/health")
    status = {entry["provider"]: entry["status"] for entry in health["providers"]}
    rows = []
    for entry in listing["providers"]:
        in_use = entry["in_use"]
        if in_use == "user":
            hint = entry.get("secret_hint") or ""
            credential = f"yours ({hint})" if hint else "yours"
        else:
            credential = in_use  # "system" or "none"
        rows.append([entry["provider"], status.get(entry["provider"], "unknown"), credential])
    print(_table(rows, ["PROVIDER", "STATUS", "CREDENTIAL"]))
    credentials = listing["credentials"]
    if credentials:
        print()
        print(
            _table(
                [
                    [
                        c["id"],
                        c["provider"],
                        c["label"] or "-",
                        c["kind"],
                        c["secret_hint"] or "-",
                        "active" if c["is_active"] else "inactive",
                    ]
                    for c in credentials
                ],
                ["ID", "PROVIDER", "LABEL", "KIND", "SECRET", "STATE"],
            )
        )
    return 0


def _read_key(args: argparse.Namespace) -> str:
    if args.key_stdin:
        return sys.stdin.readline().strip()
    prompt = f"API key for {args.provider}" + (
        " (empty for none)" if args.provider == "ollama" else ""
    )
    return getpass.getpass(f"{prompt}: ").strip()


def cmd_providers_add(args: argparse.Namespace) -> int:
    client = _client(args)
    key = _read_key(args)
    if not key and args.provider != "ollama":
        raise CommandError("no API key given.")
    body = {"provider": args.provider, "api_key": key, "label": args.label or ""}
    if args.base_url:
        body["base_url"] = args.base_url
    credential = _call(client, "POST", "/api/providers", json=body)
    hint = credential["secret_hint"] or "no key"
    print(
        f"Added {credential['provider']} credential {credential['id']} ({hint}); "
        "it is the one in use for you now."
    )
    return 0


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ID_PREFIX = re.compile(r"[0-9a-f-]{4,36}")


@dataclass(frozen=True)
class CredentialRef:
    """What a ``REF`` argument named: one of the user's credentials, or a provider whose
    credential in use is not theirs (``credential_id`` empty; ``in_use`` says whose)."""

    provider: str
    credential_id: str = ""
    in_use: str = "user"


def resolve_credential_ref(client: ApiClient, ref: str) -> CredentialRef:
    """A credential id, the start of one (as ``mosaic providers`` lists them), or a provider's
    name (the credential in use for it), as ``mosaic chat -c`` takes conversation ids."""
    ref = ref.strip().lower()
    if _UUID.fullmatch(ref):
        return CredentialRef(provider="", credential_id=ref)
    listing = _call(client, "GET", "/api/providers")
    credentials: list[dict[str, Any]] = listing["credentials"]
    summary = {entry["provider"]: entry for entry in listing["providers"]}
    if ref in summary:
        own = [c for c in credentials if c["provider"] == ref]
        active = [c for c in own if c["is_active"]] or own
        if len(active) == 1:
            return CredentialRef(provider=ref, credential_id=str(active[0]["id"]))
        if len(active) > 1:
            ids = ", ".join(str(c["id"])[:8] for c in active)
            raise CommandError(f"you have {len(active)} {ref} credentials ({ids}); give an id.")
        return CredentialRef(provider=ref, in_use=str(summary[ref]["in_use"]))
    if _ID_PREFIX.fullmatch(ref):
        matches = [c for c in credentials if str(c["id"]).startswith(ref)]
        if len(matches) == 1:
            return CredentialRef(
                provider=matches[0]["provider"], credential_id=str(matches[0]["id"])
            )
        if len(matches) > 1:
            raise CommandError(f"{ref} is the start of {len(matches)} credential ids; give more.")
    raise CommandError(
        f"{ref!r} is neither a provider ({', '.join(summary)}) nor the start of one of your "
        "credential ids; `mosaic providers` lists them."
    )


def _not_yours(named: CredentialRef) -> CommandError:
    if named.in_use == "system":
        return CommandError(
            f"you have no {named.provider} credential of your own; {named.provider} uses the "
            "system-wide one, which only an admin can change."
        )
    return CommandError(
        f"you have no {named.provider} credential; `mosaic providers add {named.provider}` adds one."
    )


def cmd_providers_remove(args: argparse.Namespace) -> int:
    client = _client(args)
    named = resolve_credential_ref(client, args.ref)
    if not named.credential_id:
        raise _not_yours(named)
    _call(client, "DELETE", f"/api/providers/{named.credential_id}")
    print(f"Removed credential {named.credential_id}.")
    return 0


def _health_line(provider: str, status: str, latency: Any, error: str) -> str:
    line = f"{provider}: {status} ({_ms(latency)})"
    return f"{line}: {error}" if error else line


def cmd_providers_test(args: argparse.Namespace) -> int:
    client = _client(args)
    named = resolve_credential_ref(client, args.ref)
    if not named.credential_id and named.in_use == "system":
        # The system-wide credential is the installation's: users see its scheduled probe.
        health = _call(client, "GET", "/api/providers/health")
        entry = next((e for e in health["providers"] if e["provider"] == named.provider), None)
        if entry is None:
            raise CommandError(f"the server has no health record for {named.provider}.")
        checked = entry["checked_at"] or "never"
        print(
            _health_line(named.provider, entry["status"], entry["latency_ms"], entry["error"] or "")
            + f" (the system-wide credential's last probe, at {checked}; "
            "only an admin can test it now)"
        )
        return 0 if entry["status"] != "down" else 1
    if not named.credential_id:
        raise _not_yours(named)
    result = _call(client, "POST", f"/api/providers/{named.credential_id}/test")
    print(_health_line(result["provider"], result["status"], result["latency_ms"], result["error"]))
    return 0 if result["status"] != "down" else 1


def cmd_providers_login(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.device:
        return _login_device(client, args.provider)
    start = _call(client, "POST", f"/api/providers/oauth/{args.provider}/start")
    print(f"Open this URL in a browser and authorise Mosaic:\n\n  {start['authorize_url']}\n")
    print("Then paste the code you are shown (or the whole code#state text).")
    pasted = sys.stdin.readline().strip() if args.code_stdin else input("Code: ").strip()
    if not pasted:
        raise CommandError("no code given; the login was not completed.")
    body = {"code": pasted}
    if "#" not in pasted:
        body["state"] = start["state"]
    credential = _call(client, "POST", f"/api/providers/oauth/{args.provider}/complete", json=body)
    print(_logged_in(credential))
    return 0


def _login_device(client: ApiClient, provider: str) -> int:
    start = _call(client, "POST", f"/api/providers/oauth/{provider}/device")
    where = start["verification_uri_complete"] or start["verification_uri"]
    print(f"Open {where} and enter the code {start['user_code']}.")
    print("Waiting for you to approve…", flush=True)
    deadline = time.monotonic() + float(start["expires_in"])
    interval = max(1.0, float(start["interval"]))
    while time.monotonic() < deadline:
        poll = _call(
            client,
            "POST",
            f"/api/providers/oauth/{provider}/device/poll",
            json={"device_id": start["device_id"]},
        )
        if poll["status"] == "complete":
            print(_logged_in(poll["credential"]))
            return 0
        interval = max(interval, float(poll.get("interval") or 0))
        time.sleep(interval)
    raise CommandError("the device code expired before it was approved; run the login again.")


def _logged_in(credential: dict[str, Any]) -> str:
    expiry = (
        f"; the token expires at {credential['expires_at']} and refreshes itself"
        if credential.get("expires_at")
        else ""
    )
    return (
        f"Logged in to {credential['provider']} with OAuth (credential {credential['id']}){expiry}."
    )


def cmd_providers_health(args: argparse.Namespace) -> int:
    client = _client(args)
    health = _call(client, "GET", "/api/providers/health")
    rows = [
        [
            entry["provider"],
            entry["status"],
            _ms(entry["latency_ms"]),
            entry["checked_at"] or "never",
            entry["error"] or "",
        ]
        for entry in health["providers"]
    ]
    print(_table(rows, ["PROVIDER", "STATUS", "LATENCY", "CHECKED", "ERROR"]))
    return 0


def cmd_providers_models(args: argparse.Namespace) -> int:
    client = _client(args)
    listing = _call(client, "GET", "/api/providers/models")
    rows = [
        [
            model["key"],
            model["tier"],
            f"{model['context_window']:,}" if model["context_window"] else "-",
            ",".join(name for name in ("tools", "vision", "reasoning") if model.get(name)) or "-",
        ]
        for model in listing["models"]
    ]
    if rows:
        print(_table(rows, ["MODEL", "TIER", "CONTEXT", "CAPABILITIES"]))
    else:
        print("No models: no provider has a usable credential for you (`mosaic providers add`).")
    for source in listing["providers"]:
        if source["stale"]:
            reason = f": {source['error']}" if source["error"] else ""
            print(
                f"note: {source['provider']} could not be asked for its models{reason}; "
                f"showing the {source['source']} list."
            )
    return 0


def _register_providers(sub: Any) -> None:
    providers = sub.add_parser("providers", help="list and manage LLM provider credentials")
    providers.set_defaults(func=cmd_providers_list)
    actions = providers.add_subparsers(dest="providers_command", metavar="ACTION")

    def action(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> Any:
        parser = actions.add_parser(name, help=help_text)
        parser.set_defaults(func=func)
        return parser

    action("list", cmd_providers_list, "providers, their health and the credential in use")

    p = action("add", cmd_providers_add, "add an API key (read without echo, or from stdin)")
    p.add_argument("provider")
    p.add_argument("--label", default="")
    p.add_argument("--base-url", default="", help="override the provider's endpoint")
    p.add_argument("--key-stdin", action="store_true", help="read the key from standard input")

    ref_help = "a provider's name, a credential id, or the start of one"
    p = action("remove", cmd_providers_remove, "delete one of your credentials")
    p.add_argument("ref", metavar="PROVIDER|ID", help=ref_help)

    p = action("test", cmd_providers_test, "check a credential against the provider now")
    p.add_argument("ref", metavar="PROVIDER|ID", help=ref_help)

    p = action("login", cmd_providers_login, "log in with OAuth (anthropic, openai)")
    p.add_argument("provider", choices=["anthropic", "openai"])
    p.add_argument("--device", action="store_true", help="use the device-code flow")
    p.add_argument("--code-stdin", action="store_true", help="read the pasted code from stdin")

    action("health", cmd_providers_health, "the last health probe of each provider")
    action("models", cmd_providers_models, "the models you can use now")


# --- login ---------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    server = (args.server or client_config.load().server or "http://127.0.0.1:8000").rstrip("/")
    username = args.username or input("Username: ").strip()
    password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    )
    try:
        token = ApiClient(server).issue_token(username, password)
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    path = client_config.save(
        client_config.ClientConfig(server=server, token=token, username=username)
    )
    print(f"Logged in to {server} as {username}. Token saved to {path} (mode 0600).")
    return 0


def _register_login(sub: Any) -> None:
    p = sub.add_parser("login", help="log in to a Mosaic server and store the token")
    p.add_argument("--server", help="server URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_login)


# --- registration --------------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add the client commands to ``mosaic``'s subparsers."""
    _register_login(sub)
    _register_providers(sub)
