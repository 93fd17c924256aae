"""The server-side ``mosaic`` commands: ``init``, ``run``, ``services``, ``test``, ``createuser``,
``manage`` and ``fake-upstream``.

They work on the local installation: the state directory (``var/`` of the checkout Mosaic runs
from, or ``MOSAIC_STATE_DIR``), its secrets, and the embedded PostgreSQL and Redis, which a
one-off command starts when they are not running and stops again afterwards. Imports are local
to each command so that ``mosaic --help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mosaic import fakes
from mosaic.console import CommandError, print_err

PROJECT_DIR = Path(__file__).resolve().parent.parent


# --- helpers -----------------------------------------------------------------------------------


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
    import django

    django.setup()


def _embedded_services(state: Path) -> Any:
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


@contextlib.contextmanager
def _installation() -> Iterator[Path]:
    """Settings loaded and the database reachable, for a one-off command on this installation.

    Refuses a state directory that was never initialised instead of creating a second, empty
    installation beside the real one; starts the embedded servers only if they are not running
    (``mosaic run`` may be using them) and stops only those it started.
    """
    from mosaic.services import ServiceError, default_state_dir

    state = default_state_dir()
    if not (state / "mosaic.env").is_file() and "SECRET_KEY" not in os.environ:
        raise CommandError(
            f"there is no Mosaic installation in {state}. Run this from the checkout where you "
            "ran `make run`, or set MOSAIC_STATE_DIR to the state directory your server uses."
        )
    try:
        with _embedded_services(state):
            _validate_settings()
            yield state
    except ServiceError as exc:
        raise CommandError(str(exc)) from None


def _mosaic_command() -> str:
    """How the user can type ``mosaic`` in their shell: the bare name when it is on the PATH."""
    import shutil

    ours = Path(sys.executable).parent / "mosaic"
    found = shutil.which("mosaic")
    if found and Path(found).resolve() == ours.resolve():
        return "mosaic"
    with contextlib.suppress(ValueError):
        return str(ours.relative_to(Path.cwd()))
    return str(ours)


# --- the first admin -----------------------------------------------------------------------------


def _password_problems(password: str, username: str) -> str:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    try:
        validate_password(password, user=get_user_model()(username=username))
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


def _username_problems(username: str) -> str:
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError

    user_model = get_user_model()
    try:
        user_model._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        return " ".join(exc.messages)
    if user_model.objects.filter(username=username).exists():
        return f"A user named {username!r} exists already; choose another name."
    return ""


def _ask_admin(default_username: str) -> tuple[str, str]:
    """Ask for the first admin's name and password; an empty password means "generate one"."""
    print("No admin user yet; let's create one.", flush=True)
    try:
        while True:
            username = input(f"Admin username [{default_username}]: ").strip() or default_username
            problems = _username_problems(username)
            if not problems:
                break
            print(problems, flush=True)
        while True:
            password = getpass.getpass("Password (leave empty to generate one): ")
            if not password:
                return username, ""
            problems = _password_problems(password, username)
            if problems:
                print(f"{problems} Try another, or leave it empty.", flush=True)
                continue
            if getpass.getpass("Password again: ") != password:
                print("The two passwords differ; try again.", flush=True)
                continue
            return username, password
    except EOFError:
        raise CommandError(
            "the input ended before an admin was created; run `make run` again."
        ) from None


def ensure_admin(*, interactive: bool) -> str:
    """Create the first superuser if there is none; return the banner's line about the admin.

    The name and password come from ``DJANGO_SUPERUSER_USERNAME``/``_PASSWORD``, else from the
    terminal when ``interactive``; a password left empty is generated, and then the returned
    line shows it (the only place it ever appears).
    """
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    existing = user_model.objects.filter(is_superuser=True).order_by("pk").first()
    if existing is not None:
        name = existing.get_username()
        return (
            f"Admin user:   {name}   (forgot the password? `mosaic manage changepassword {name}`)"
        )
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
    if not (username and password) and interactive:
        username, password = _ask_admin(username or "admin")
    username = username or "admin"
    problems = _username_problems(username)
    if problems:
        raise CommandError(f"cannot create the admin {username!r}: {problems}")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(
        username=username, email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), password=password
    )
    if generated:
        return (
            f"Admin user:   {username}   password: {password}   "
            "(generated and shown only now: note it)"
        )
    return f"Admin user:   {username}   (with the password you chose)"


# --- init, services, run -------------------------------------------------------------------------


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
        with _embedded_services(state):
            print(
                f"PostgreSQL: {embedded_database_url(state)}\nRedis:      {embedded_redis_url(state)}"
            )
            print("Press Ctrl-C to stop them.")
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise CommandError(
                f"port {port} on {host} is in use; stop what uses it, or serve on another port: "
                f"`MOSAIC_PORT={port + 1} make run` (or `mosaic run --port {port + 1}`)."
            ) from None


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


def _process_specs(host: str, port: int, concurrency: int) -> list[Any]:
    from mosaic.supervisor import ProcessSpec

    python = sys.executable
    # daphne with Mosaic's WebSocket limit (mosaic/serve.py)
    daphne = [python, "-m", "mosaic.serve", "-b", host, "-p", str(port), "--proxy-headers"]
    celery = [python, "-m", "celery", "-A", "mosaic"]
    return [
        ProcessSpec("web", [*daphne, "mosaic.asgi:application"]),
        ProcessSpec(
            "worker",
            [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"worker-{os.getpid()}@%h",
            ],
        ),
        ProcessSpec("beat", [*celery, "beat", "--loglevel", "INFO", "--pidfile", ""]),
    ]


def _banner(*, host: str, port: int, state: Path, admin_line: str, username: str) -> str:
    base = f"http://{host}:{port}"
    mosaic = _mosaic_command()
    login = f"{mosaic} login --server {base}" + (f" --username {username}" if username else "")
    return (
        f"\nMosaic is running (data in {state}).\n"
        f"  Chat:         {base}/   (the web page; sign in as below)\n"
        f"  Admin:        {base}/admin/\n"
        f"  API:          {base}/api/   (to browse it, log in at {base}/api-auth/login/)\n"
        f"  API docs:     {base}/api/docs/   (schema: {base}/api/schema/)\n"
        f"  Chat socket:  ws://{host}:{port}/ws/chat/\n"
        f"  {admin_line}\n"
        "  Chat from another terminal:\n"
        f"    {login}\n"
        f"    {mosaic} chat\n"
        "Press Ctrl-C to stop everything.\n"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from mosaic.local import AlreadyRunning, acquire_run_lock, ensure_local_secrets, state_dir
    from mosaic.services import ServiceError
    from mosaic.supervisor import Supervisor

    state = state_dir()
    try:
        lock = acquire_run_lock(state)
    except AlreadyRunning as exc:
        raise CommandError(
            f"Mosaic is already running from {state} (pid {exc}); stop it first, "
            "or give this copy its own MOSAIC_STATE_DIR."
        ) from None
    try:
        ensure_local_secrets(state)
        host, port = args.host, args.port if args.port is not None else _env_port()
        _check_port_free(host, port)
        with _embedded_services(state):
            _validate_settings()
            from django.contrib.auth import get_user_model
            from django.core.management import call_command
            from django.db import connections

            print("Applying migrations…", flush=True)
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            admin_line = ensure_admin(interactive=sys.stdin.isatty() and not args.no_input)
            admins = get_user_model().objects.filter(is_superuser=True).order_by("pk")
            username = admins.values_list("username", flat=True).first() or ""
            connections.close_all()
            supervisor = Supervisor(_process_specs(host, port, args.concurrency))
            supervisor.start()
            _wait_until_serving(f"http://{host}:{port}/healthz", supervisor)
            print(
                _banner(
                    host=host, port=port, state=state, admin_line=admin_line, username=username
                ),
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


# --- test, createuser, manage --------------------------------------------------------------------


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
        with _embedded_services(state):
            result = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "pytest", *args.pytest_args],
                cwd=PROJECT_DIR,
                env=env,
                check=False,
            )
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    if result.returncode == 5:
        print_err("pytest collected no tests: that is a failure, not a pass.")
        return 1
    return result.returncode


def cmd_createuser(args: argparse.Namespace) -> int:
    with _installation():
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
        problems = _password_problems(password, args.username)
        if problems:
            raise CommandError(problems)
        if args.staff:
            user_model.objects.create_superuser(
                username=args.username, email=args.email, password=password
            )
        else:
            user_model.objects.create_user(
                username=args.username, email=args.email, password=password
            )
    print(f"Created {'admin ' if args.staff else ''}user {args.username!r}.")
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    with _installation():
        from django.core.management import execute_from_command_line

        execute_from_command_line(["mosaic manage", *args.manage_args])
    return 0


# --- fake-upstream -------------------------------------------------------------------------------


def cmd_fake_upstream(args: argparse.Namespace) -> int:
    from mosaic.fakes.serve import FakeUpstreamError, read_reply, serve

    try:
        reply = read_reply(reply=args.reply, reply_file=args.reply_file, provider=args.provider)
        serve(
            args.provider,
            port=args.port,
            reply=reply,
            delay=args.delay,
            chunk=args.chunk,
            quiet=args.quiet,
        )
    except FakeUpstreamError as exc:
        raise CommandError(str(exc)) from None
    return 0


# --- registration --------------------------------------------------------------------------------


def _env_port() -> int:
    raw = os.environ.get("MOSAIC_PORT", "8000")
    try:
        return int(raw)
    except ValueError:
        raise CommandError(f"MOSAIC_PORT must be a port number, not {raw!r}.") from None


def register(sub: Any) -> None:
    """Add the server-side commands to ``mosaic``'s subparsers."""
    p = sub.add_parser("init", help="create the state directory and local secrets")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "run", help="start everything (database, Redis, web, worker, beat) in the foreground"
    )
    p.add_argument("--host", default=os.environ.get("MOSAIC_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=None, help="(MOSAIC_PORT, 8000)")
    p.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    p.add_argument("--no-input", action="store_true", help="never prompt (for scripts)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "services", help="run only the embedded PostgreSQL and Redis in the foreground"
    )
    p.set_defaults(func=cmd_services)

    # Every argument, options included, goes to pytest: with "-" as a prefix argparse would
    # claim a leading `-q` itself and refuse it (`mosaic test --help` is pytest's help).
    p = sub.add_parser(
        "test",
        help="run the test suite against real servers (extra args go to pytest)",
        prefix_chars="+",
        add_help=False,
    )
    p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("createuser", help="create a user")
    p.add_argument("username")
    p.add_argument("--email", default="")
    p.add_argument("--staff", action="store_true", help="make an admin (superuser)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_createuser)

    p = sub.add_parser(
        "manage",
        help="run a Django management command (like manage.py), e.g. `changepassword admin`",
    )
    p.add_argument("manage_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_manage)

    p = sub.add_parser(
        "fake-upstream",
        help="run a fake provider API that answers every message with one scripted reply",
        description="Run a fake provider API on 127.0.0.1, to try Mosaic without a provider "
        "key. It is a test double: every chat request gets the same reply, streamed in chunks.",
    )
    p.add_argument("provider", choices=fakes.PROVIDERS)
    p.add_argument(
        "--port", type=int, default=fakes.DEFAULT_PORT, help="%(default)s; 0: any free port"
    )
    p.add_argument(
        "--delay",
        type=float,
        default=fakes.DEFAULT_DELAY,
        metavar="SECONDS",
        help="pause between streamed chunks (%(default)s; 0.2 leaves time to press esc)",
    )
    p.add_argument(
        "--chunk", type=int, default=fakes.DEFAULT_CHUNK, help="characters per chunk (%(default)s)"
    )
    reply = p.add_mutually_exclusive_group()
    reply.add_argument("--reply", metavar="TEXT", help="the reply text (Markdown is fine)")
    reply.add_argument(
        "--reply-file", metavar="PATH", help="read the reply from a file (`-`: standard input)"
    )
    p.add_argument("--quiet", action="store_true", help="print only the base URL")
    p.set_defaults(func=cmd_fake_upstream)
