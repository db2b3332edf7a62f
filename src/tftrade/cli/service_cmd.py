"""``tftrade serve`` (API, metrics, dashboard) and ``tftrade apikey create|list|revoke``."""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime

import typer

from tftrade.cli._common import JsonOption, command, emit, engine, settings, stderr, table

SHUTDOWN_GRACE_S = 3
"""On SIGINT/SIGTERM, how long open requests (event streams) may run on before they are ended."""

apikey_app = typer.Typer(help="Create, list and revoke API keys of `tftrade serve`.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``apikey`` group to the CLI."""
    app.command("serve")(serve)
    app.add_typer(apikey_app, name="apikey")


@command
def serve(
    host: str | None = typer.Option(None, help="Interface to bind (default: service.host, 127.0.0.1)."),
    port: int | None = typer.Option(None, min=0, max=65535, help="Port (default: service.port, 8787; 0: any free)."),
    no_model: bool = typer.Option(False, "--no-model", help="Serve without loading a model (no /predict, /explain)."),
    as_json: bool = JsonOption,
) -> None:
    """Serve the API, Prometheus /metrics and the desk's dashboard (every route but /health needs an API key)."""
    import uvicorn

    from tftrade.service.app import create_app
    from tftrade.service.build import build_context

    cfg = settings()
    bind_host, bind_port = host or cfg.service.host, cfg.service.port if port is None else port
    ctx = build_context(cfg, engine(cfg), with_model=not no_model)
    if bind_host not in ("127.0.0.1", "localhost", "::1"):
        stderr.print(f"[yellow]warning:[/yellow] binding {bind_host}: the API is reachable from other machines "
                     "(keys are still required)", highlight=False)
    try:  # listen before saying "serving": a port in use is one clear error, not uvicorn's log and exit 3
        sock = listen(bind_host, bind_port)
    except OSError as e:
        raise OSError(f"cannot listen on {bind_host}:{bind_port}: {e.strerror or e}") from None
    bind_port = sock.getsockname()[1]
    url = f"http://{bind_host}:{bind_port}" if ":" not in bind_host else f"http://[{bind_host}]:{bind_port}"
    emit({"event": "serving", "url": url, "dashboard": f"{url}/", "docs": f"{url}/docs"}, as_json,
         lambda r: stderr.print(f"serving {r['url']} (dashboard {r['dashboard']}, OpenAPI {r['docs']})",
                                highlight=False))
    sys.stdout.flush()
    # SIGINT/SIGTERM: stop accepting, let requests finish, then end what never does (the dashboard's
    # /events stream) after SHUTDOWN_GRACE_S instead of waiting for its browser tab to close
    server = uvicorn.Server(uvicorn.Config(create_app(ctx), log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=SHUTDOWN_GRACE_S))
    server.run(sockets=[sock])


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose connections asyncio serves with ``TCP_NODELAY``.

    asyncio turns Nagle's algorithm off only on sockets whose ``proto`` is ``IPPROTO_TCP``;
    ``socket.create_server`` makes ``proto`` 0, and then every request after the first on a
    kept-alive connection waited ~40 ms for the client's delayed ACK.
    """
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


@apikey_app.command("create")
@command
def create(
    name: str = typer.Option(..., "--name", help="Who or what uses the key (shown in lists and logs)."),
    scope: str = typer.Option("read", "--scope", help="read | trade | admin (admin: kill, pause, resume)."),
    as_json: bool = JsonOption,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    from tftrade.service.keys import Scope, create_key

    key, stored = create_key(engine(), name, Scope.parse(scope))
    emit({"key": key, "key_id": stored.key_id, "name": stored.name, "scope": stored.scope}, as_json,
         lambda r: print(f"{r['key']}\n(key id {r['key_id']}, scope {r['scope']}: store it now, "
                         "it is not shown again)"))


@apikey_app.command("list")
@command
def list_(as_json: bool = JsonOption) -> None:
    """List keys (ids, names, scopes, created, revoked) — never the secrets."""
    from tftrade.store.apikeys import list_keys

    rows = [{"key_id": k.key_id, "name": k.name, "scope": k.scope, "created_at": k.created_at,
             "revoked_at": k.revoked_at} for k in list_keys(engine())]
    emit({"keys": rows}, as_json, lambda r: table("API keys", r["keys"]))


@apikey_app.command("revoke")
@command
def revoke(key_id: str = typer.Argument(..., help="The key's id (the 8 characters after 'tft_')."),
           as_json: bool = JsonOption) -> None:
    """Revoke a key: it stops working within two seconds."""
    from tftrade.store.apikeys import revoke_key

    revoke_key(engine(), key_id, datetime.now(UTC))
    emit({"revoked": key_id}, as_json, lambda r: print(f"revoked {r['revoked']}"))
