"""``healthtwin serve``: the web service (FHIR facade, twin API, dashboard) over the store.

Two modes, never mixed: ``--production`` needs the authorisation server's keys
(``--jwks``: a JWKS or PEM public-key file), ``--issuer``, ``--audience`` and an access
``--policy``; ``--dev`` (the default on a loopback address) signs a demo token with a
locally generated key and prints it, clearly marked. A non-loopback address needs one of
the two flags explicitly. ``--demo`` loads a synthetic demo dataset
(:mod:`healthtwin.api.demo`); without ``--database`` it goes to a temporary SQLite file that
is deleted when the server stops (so the demo never mixes with a real store), and the
command says so. The port (1-65535) is bound before anything is printed: a port in use is
a clear error (exit 2), never a printed address that does not answer. The dashboard's
address is printed with the development token in its fragment (``#token=...``, which
browsers never send to the server).
"""

from __future__ import annotations

import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from healthtwin.errors import InvalidParameterError, MissingDependencyError

if TYPE_CHECKING:
    from healthtwin.api.security import SecurityConfig

__all__ = ["bind_port", "dashboard_address", "security_from_options", "serve"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def security_from_options(
    *,
    host: str,
    production: bool,
    dev: bool,
    policy: Path | None,
    jwks: Path | None,
    issuer: str | None,
    audience: str | None,
    cors_origins: tuple[str, ...],
    data_dir: Path | None = None,
) -> tuple[SecurityConfig, str | None]:
    """The :class:`~healthtwin.api.security.SecurityConfig` the options ask for, and the
    demo token in development mode (``None`` in production).

    Raises
    ------
    InvalidParameterError
        For contradictory or missing options (both modes; production without keys,
        issuer, audience or policy; an implicit mode on a non-loopback address).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     config, token = security_from_options(host="127.0.0.1", production=False,
    ...         dev=False, policy=None, jwks=None, issuer=None, audience=None,
    ...         cors_origins=(), data_dir=Path(d))
    >>> config.mode, token is not None
    ('development', True)
    """
    from healthtwin.api.devmode import development_config
    from healthtwin.api.security import SecurityConfig, load_jwks, load_pem_key
    from healthtwin.governance.policy import load_policy

    if production and dev:
        raise InvalidParameterError("choose one of --production and --dev, not both")
    if not production and not dev and host not in _LOOPBACK:
        raise InvalidParameterError(
            f"serving on {host!r} (not a loopback address) needs --production (with --jwks, "
            "--issuer, --audience, --policy) or an explicit --dev"
        )
    loaded_policy = load_policy(policy) if policy is not None else None
    if not production:
        config, token = development_config(
            data_dir, policy=loaded_policy, cors_origins=cors_origins
        )
        return config, token
    missing = [
        name
        for name, value in (("--jwks", jwks), ("--issuer", issuer), ("--audience", audience))
        if value is None
    ] + (["--policy"] if loaded_policy is None else [])
    if missing:
        raise InvalidParameterError(f"--production needs {', '.join(missing)}")
    assert jwks is not None
    text = jwks.read_text(encoding="utf-8") if jwks.exists() else ""
    keys = (load_pem_key(jwks),) if "-----BEGIN" in text else load_jwks(jwks)
    config = SecurityConfig(
        mode="production",
        keys=keys,
        issuer=issuer,
        audience=audience,
        policy=loaded_policy,
        cors_origins=cors_origins,
    )
    return config, None


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    database: Annotated[
        str | None,
        typer.Option(
            help="Database URL (default: $HEALTHTWIN_DATABASE_URL or a SQLite file; with "
            "--demo a temporary SQLite file deleted when the server stops)."
        ),
    ] = None,
    production: Annotated[
        bool, typer.Option("--production", help="Production mode: real keys, no /docs.")
    ] = False,
    dev: Annotated[
        bool, typer.Option("--dev", help="Development mode: local key, printed demo token.")
    ] = False,
    policy: Annotated[
        Path | None, typer.Option(help="Access policy file (YAML/JSON); required in production.")
    ] = None,
    jwks: Annotated[
        Path | None, typer.Option(help="JWKS or PEM public key of the token issuer.")
    ] = None,
    issuer: Annotated[str | None, typer.Option(help="Required token issuer (iss).")] = None,
    audience: Annotated[str | None, typer.Option(help="Required token audience (aud).")] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="Browser origin allowed to call (repeatable).")
    ] = None,
    provenance_key: Annotated[
        Path | None,
        typer.Option(
            help="Ed25519 key (PEM) that signs the provenance of every forecast (default in "
            "development: a local key kept beside the development token key)."
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Load the synthetic demo dataset: three patient twins with CGM, a region "
            "scenario, a hospital forecast and a small world run (background jobs) and an "
            "alarm board (never with --production).",
        ),
    ] = False,
) -> None:
    """Serve the FHIR R4 API (/fhir), the twin API (/api/v1) and the dashboard (/dashboard).

    Open the printed dashboard address (it carries the development token).

    \b
    Example:
      healthtwin serve --demo
      healthtwin serve --production --jwks keys.json --policy policy.yaml \\
          --issuer https://idp.example.org --audience healthtwin --host 0.0.0.0
    """
    try:
        import uvicorn

        from healthtwin.api.app import create_app
        from healthtwin.api.devmode import dev_banner
    except ImportError as err:
        raise MissingDependencyError(
            "the web service needs the api extra: pip install 'healthtwin[api]'"
        ) from err
    from healthtwin.store import open_store

    config, token = security_from_options(
        host=host,
        production=production,
        dev=dev,
        policy=policy,
        jwks=jwks,
        issuer=issuer,
        audience=audience,
        cors_origins=tuple(cors_origin or ()),
    )
    if demo and production:
        raise InvalidParameterError("--demo loads synthetic data: use it without --production")
    with ExitStack() as stack:
        listening = stack.enter_context(bind_port(host, port))
        base_url = f"http://{host}:{port}/fhir"
        if token is not None:
            typer.echo(dev_banner(token, base_url), err=True)
        if demo and database is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="healthtwin-")))
            database = f"sqlite:///{folder / 'demo.sqlite'}"
            typer.echo(
                f"Demo data: a temporary SQLite file, {folder / 'demo.sqlite'}, deleted when "
                "the server stops (give --database URL to keep it).",
                err=True,
            )
        store = stack.enter_context(open_store(database))
        app = create_app(
            store,
            base_url=base_url,
            security=config,
            provenance_key=_provenance_key(provenance_key, development=token is not None),
        )
        if demo:
            from healthtwin.api.demo import load_demo

            load_demo(app.state, store)
        typer.echo(dashboard_address(host, port, token))
        server = uvicorn.Server(uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5))
        stack.enter_context(_sigterm_unwinds())
        server.run(sockets=[listening])


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Let SIGTERM end the command by unwinding (temporary demo data is then deleted).

    uvicorn stops gracefully on SIGTERM and then raises the signal again; with the
    default action the process would die before any cleanup ran.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(number: int, frame: Any) -> None:
        raise SystemExit(128 + number)

    previous = signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def bind_port(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound now (before any address is printed).

    Raises
    ------
    InvalidParameterError
        If the port is taken or the address cannot be used (exit 2 on the command line).

    Examples
    --------
    >>> with bind_port("127.0.0.1", 0) as first:
    ...     taken = first.getsockname()[1]
    ...     bind_port("127.0.0.1", taken)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidParameterError: cannot listen on 127.0.0.1:... is the port ...
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a port left in TIME_WAIT by a stopped server is free again.
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except OSError as err:
        listening.close()
        raise InvalidParameterError(
            f"cannot listen on {host}:{port} ({err.strerror or err}): is the port already in "
            "use (another healthtwin serve?); stop it or choose another --port"
        ) from err
    listening.set_inheritable(True)
    return listening


def dashboard_address(host: str, port: int, token: str | None) -> str:
    """The line printed at start: where the dashboard is (with the development token).

    Examples
    --------
    >>> dashboard_address("127.0.0.1", 8000, "abc")
    'Dashboard: http://127.0.0.1:8000/dashboard/#token=abc'
    >>> dashboard_address("::1", 8000, None)
    'Dashboard: http://[::1]:8000/dashboard/'
    """
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/dashboard/"
    return f"Dashboard: {address}#token={token}" if token else f"Dashboard: {address}"


def _provenance_key(path: Path | None, *, development: bool) -> Any:
    """The forecast-provenance signing key: the given file, or a local one in development."""
    from healthtwin.governance.signing import (
        generate_signing_key,
        load_signing_key,
        save_signing_key,
    )

    if path is not None:
        return load_signing_key(path)
    if not development:
        return None
    from healthtwin.api.devmode import dev_data_dir

    local = dev_data_dir(None) / "provenance-ed25519.pem"
    if not local.exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        save_signing_key(generate_signing_key(), local)
    return load_signing_key(local)
