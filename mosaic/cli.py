"""``mosaic``: the user's entry point.

Server side: ``init``, ``run`` (everything, in the foreground), ``services`` (just the embedded
PostgreSQL and Redis), ``test``, ``createuser``, ``manage``. Client side (talks to a server over
HTTP/WebSocket, never to its internals): ``login``, ``chat``, ``conversations``, ``search``,
``providers``. Imports are local to each command so that ``mosaic --help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


class CommandError(Exception):
    """A command cannot go on; the message is one sentence for the user."""


def _print_err(message: str) -> None:
    sys.stderr.write(f"mosaic: {message}\n")


# --- server-side helpers -----------------------------------------------------------------------


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
    import django

    django.setup()


def _embedded_services(state: Path) -> object:
    from mosaic.services import EmbeddedServices

    return EmbeddedServices(
        state,
        postgres="DATABASE_URL" not in os.environ,
        redis="REDIS_URL" not in os.environ,
    )


def _validate_settings() -> None:
    from django.core.exceptions import ImproperlyConfigured

    try:
        _django_setup()
    except ImproperlyConfigured as exc:
        raise CommandError(f"configuration error: {exc}") from None


def _ensure_admin(interactive: bool) -> str:
    """Create the first superuser if there is none; return a line saying how to log in."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if user_model.objects.filter(is_superuser=True).exists():
        return "Log in with your admin account (`mosaic createuser NAME` adds users)."
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "")
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
    if not (username and password) and interactive:
        print("No admin user yet; let's create one.")
        username = input("Admin username [admin]: ").strip() or "admin"
        while not password:
            password = getpass.getpass(
                "Password (leave empty to generate one): "
            ) or secrets.token_urlsafe(12)
    if not username:
        username = "admin"
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(
        username=username, email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), password=password
    )
    if generated:
        return f"Created admin user {username!r} with password {password!r} (shown once; change it in the admin)."
    return f"Created admin user {username!r}."


def cmd_init(args: argparse.Namespace) -> int:
    from mosaic.local import ensure_local_secrets, state_dir

    state = state_dir()
    env_file = ensure_local_secrets(state)
    print(f"State directory: {state}\nLocal secrets: {env_file}")
    return 0


def cmd_services(args: argparse.Namespace) -> int:
    """Run only the embedded PostgreSQL and Redis in the foreground (for manage.py in another shell)."""
    import signal
    import threading

    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import ServiceError, embedded_database_url, embedded_redis_url

    state = state_dir()
    ensure_local_secrets(state)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with _embedded_services(state):  # type: ignore[attr-defined]
            print(
                f"PostgreSQL: {embedded_database_url(state)}\nRedis:      {embedded_redis_url(state)}"
            )
            print("Press Ctrl-C to stop them.")
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from mosaic.local import AlreadyRunning, acquire_run_lock, ensure_local_secrets, state_dir
    from mosaic.services import ServiceError
    from mosaic.supervisor import ProcessSpec, Supervisor

    state = state_dir()
    try:
        lock = acquire_run_lock(state)
    except AlreadyRunning as exc:
        raise CommandError(
            f"Mosaic is already running from {state} (pid {exc}); stop it first, "
            "or give this copy its own MOSAIC_STATE_DIR."
        ) from None
    ensure_local_secrets(state)
    host, port = args.host, args.port
    _check_port_free(host, port)
    try:
        services = _embedded_services(state)
        with services:  # type: ignore[attr-defined]
            _validate_settings()
            from django.core.management import call_command

            print("Applying migrations…", flush=True)
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            login_hint = _ensure_admin(interactive=sys.stdin.isatty() and not args.no_input)
            from django.db import connections

            connections.close_all()
            python = sys.executable
            specs = [
                ProcessSpec(
                    "web",
                    [
                        python,
                        "-m",
                        "daphne",
                        "-b",
                        host,
                        "-p",
                        str(port),
                        "--proxy-headers",
                        "mosaic.asgi:application",
                    ],
                ),
                ProcessSpec(
                    "worker",
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "mosaic",
                        "worker",
                        "--loglevel",
                        "INFO",
                        "--concurrency",
                        str(args.concurrency),
                        "--hostname",
                        f"worker-{os.getpid()}@%h",
                    ],
                ),
                ProcessSpec(
                    "beat",
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "mosaic",
                        "beat",
                        "--loglevel",
                        "INFO",
                        "--pidfile",
                        "",
                    ],
                ),
            ]
            supervisor = Supervisor(specs)
            supervisor.start()
            base = f"http://{host}:{port}"
            _wait_until_serving(f"{base}/healthz", supervisor)
            print(
                "\nMosaic is running.\n"
                f"  Admin:        {base}/admin/\n"
                f"  API:          {base}/api/  (browsable; OpenAPI schema {base}/api/schema/, docs {base}/api/docs/)\n"
                f"  Chat socket:  ws://{host}:{port}/ws/chat/\n"
                f"  {login_hint}\n"
                f"  Start chatting: mosaic login --server {base} && mosaic chat\n"
                "Press Ctrl-C to stop everything.\n",
                flush=True,
            )
            code = supervisor.wait()
            print("Stopping the embedded servers…", flush=True)
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    finally:
        lock.close()
    print("Mosaic stopped.")
    return code


def _wait_until_serving(url: str, supervisor: Any, timeout: float = 60.0) -> None:
    """Print the URLs only once daphne answers, so that they work when the user sees them."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in supervisor.procs.values()):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise CommandError(
                f"port {port} on {host} is in use; stop what uses it or choose another with --port."
            ) from None


def cmd_test(args: argparse.Namespace) -> int:
    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import ServiceError, embedded_redis_url

    state = state_dir()
    ensure_local_secrets(state)
    (state / "static").mkdir(exist_ok=True)
    env = dict(os.environ)
    if "REDIS_URL" not in env:
        # Tests get their own Redis database so that they never touch a local run's keys.
        env["REDIS_URL"] = embedded_redis_url(state, db=1)
        env["MOSAIC_TEST_EMBEDDED_REDIS"] = "1"
    try:
        with _embedded_services(state):  # type: ignore[attr-defined]
            result = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "pytest", *args.pytest_args],
                cwd=PROJECT_DIR,
                env=env,
                check=False,
            )
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    if result.returncode == 5:
        _print_err("pytest collected no tests: that is a failure, not a pass.")
        return 1
    return result.returncode


def cmd_createuser(args: argparse.Namespace) -> int:
    _validate_settings()
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if user_model.objects.filter(username=args.username).exists():
        raise CommandError(f"user {args.username!r} already exists.")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.username}: ")
        if password != getpass.getpass("Again: "):
            raise CommandError("the passwords do not match.")
    if not password:
        raise CommandError("the password must not be empty.")
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    try:
        validate_password(password)
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    if args.staff:
        user_model.objects.create_superuser(
            username=args.username, email=args.email, password=password
        )
    else:
        user_model.objects.create_user(username=args.username, email=args.email, password=password)
    print(f"Created {'admin ' if args.staff else ''}user {args.username!r}.")
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    from django.core.exceptions import ImproperlyConfigured

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["mosaic manage", *args.manage_args])
    except ImproperlyConfigured as exc:
        raise CommandError(f"configuration error: {exc}") from None
    return 0


# --- client commands ---------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    from mosaic.client import config as client_config
    from mosaic.client.http import ApiClient, ClientError

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


# --- argument parsing --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mosaic", description="Mosaic, a self-hosted AI harness.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create the state directory and local secrets")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "run", help="start everything (database, Redis, web, worker, beat) in the foreground"
    )
    p.add_argument("--host", default=os.environ.get("MOSAIC_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("MOSAIC_PORT", "8000")))
    p.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    p.add_argument("--no-input", action="store_true", help="never prompt (for scripts)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "services", help="run only the embedded PostgreSQL and Redis in the foreground"
    )
    p.set_defaults(func=cmd_services)

    p = sub.add_parser(
        "test", help="run the test suite against real servers (extra args go to pytest)"
    )
    p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("createuser", help="create a user")
    p.add_argument("username")
    p.add_argument("--email", default="")
    p.add_argument("--staff", action="store_true", help="make an admin (superuser)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_createuser)

    p = sub.add_parser("manage", help="run a Django management command (like manage.py)")
    p.add_argument("manage_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_manage)

    p = sub.add_parser("login", help="log in to a Mosaic server and store the token")
    p.add_argument("--server", help="server URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_login)

    for extra in _client_command_modules():
        extra(sub)
    return parser


def _client_command_modules() -> list[Callable[[Any], None]]:
    """``register(subparsers)`` hooks of the client command modules (chat, providers, …)."""
    import importlib
    import importlib.util

    hooks: list[Callable[[Any], None]] = []
    for module_name in ("mosaic.client.commands", "mosaic.tui.commands", "mosaic.routing_commands"):
        if importlib.util.find_spec(module_name.rpartition(".")[0]) is None:
            continue
        if importlib.util.find_spec(module_name) is None:
            continue
        hooks.append(importlib.import_module(module_name).register)
    return hooks


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        _print_err(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
