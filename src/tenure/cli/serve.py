"""`tenure serve`, `tenure keys ...`, `tenure users ...` and `tenure customers export|erase`."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer
from rich.table import Table

from tenure.cli.lifecycle import WS, console
from tenure.errors import TenureError
from tenure.workspace import Workspace

keys_app = typer.Typer(help="API keys for the server's /v1 endpoints (stored hashed).", no_args_is_help=True)
users_app = typer.Typer(help="Dashboard users (passwords stored with scrypt).", no_args_is_help=True)
customers_app = typer.Typer(help="One person's data: export it or erase it.", no_args_is_help=True)
SCOPE = typer.Option("read", "--scope", help="read (look), write (also post data, start runs) or admin (also export and erase).")
PASSWORD_ENV = "TENURE_PASSWORD"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(users_app, name="users")
    app.add_typer(customers_app, name="customers")


def serve(host: str = typer.Option(None, "--host", help="Address to listen on (default server.host)."),
          port: int = typer.Option(None, "--port", help="Port to listen on (default server.port)."),
          schedule: str = typer.Option(None, "--schedule", help="Cron expression of the daily pipeline in the "
                                       "workspace zone, e.g. \"0 6 * * *\" (default server.schedule; \"\" for none)."),
          workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes answering requests "
                                      "(default 1); with more, the schedule runs in this supervising process."),
          workspace: Path = WS) -> None:
    """Run the API, tracking links, dashboard and schedule (FastAPI under uvicorn) until stopped."""
    import uvicorn

    from tenure.server.app import check_secret, create_app
    from tenure.server.schedule import parse_cron

    ws = Workspace(workspace)
    if schedule:
        try:
            parse_cron(schedule)
        except ValueError as exc:
            raise TenureError(f"--schedule: {exc}")
    app = create_app(ws, schedule=schedule) if workers == 1 else None
    cfg = ws.settings.server
    host, port = host or cfg.host, port or cfg.port
    expr = cfg.schedule if schedule is None else schedule
    options = dict(host=host, port=port, log_level="warning", access_log=False, proxy_headers=True,
                   server_header=False)
    if workers == 1:
        console.print(f"Serving {ws.root} on http://{host}:{port} (API docs at /docs, dashboard at /); "
                      f"schedule: {expr or 'none'}")
        uvicorn.run(app, **options)
        return
    # Each worker builds its own app (tenure.server.factory.from_env) from the environment; the
    # schedule runs here, once, and the workers' dashboards only show it.
    from tenure.server import factory
    from tenure.server.schedule import Scheduler

    check_secret(ws)
    scheduler = Scheduler(ws, expr) if expr else None
    os.environ[factory.WORKSPACE_ENV] = str(ws.root)
    os.environ[factory.SCHEDULE_ENV] = expr or ""
    console.print(f"Serving {ws.root} on http://{host}:{port} with {workers} worker processes (API docs at /docs, "
                  f"dashboard at /); schedule: {expr or 'none'}")
    if scheduler:
        scheduler.start()
    try:
        uvicorn.run("tenure.server.factory:from_env", factory=True, workers=workers, **options)
    finally:
        if scheduler:
            scheduler.stop(timeout=5)


@keys_app.command("create")
def keys_create(scope: str = SCOPE, name: str = typer.Option(..., "--name", help="What uses the key, e.g. shop-backend."),
                workspace: Path = WS) -> None:
    """Make an API key and print it once (only its hash is kept)."""
    from tenure.access import create_key

    key = create_key(Workspace(workspace).store, scope=scope, name=name)
    console.print(f"API key ({scope}) for {name}; copy it now, it is not shown again:", highlight=False)
    print(key)


@keys_app.command("list")
def keys_list(workspace: Path = WS) -> None:
    """Every key: id, name, scope, when made, last used, revoked."""
    from tenure.access import list_keys

    table = Table(title="API keys", title_justify="left")
    for col in ("key id", "name", "scope", "created", "last used", "revoked"):
        table.add_column(col)
    for k in list_keys(Workspace(workspace).store):
        table.add_row(k["key_id"], k["name"], k["scope"], *(str(k[c] or "") for c in ("created_at", "last_used_at", "revoked_at")))
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key id (from `tenure keys list`) or the key."),
                workspace: Path = WS) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from tenure.access import revoke_key

    revoke_key(Workspace(workspace).store, key_id)
    console.print("Revoked.")


def _password() -> str:
    given = os.environ.get(PASSWORD_ENV)
    if given:
        return given
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise TenureError("the two passwords differ", fix="type the same password twice")
    return first


@users_app.command("add")
def users_add(username: str = typer.Argument(..., help="Login name (an email address works)."), scope: str = SCOPE,
              workspace: Path = WS) -> None:
    """Add a dashboard user; asks for the password (or reads $TENURE_PASSWORD)."""
    from tenure.access import add_user

    add_user(Workspace(workspace).store, username=username, password=_password(), scope=scope)
    console.print(f"Added {username} ({scope}).")


@users_app.command("list")
def users_list(workspace: Path = WS) -> None:
    """Every dashboard user and their scope."""
    from tenure.access import list_users

    table = Table(title="Dashboard users", title_justify="left")
    for col in ("user", "scope", "created"):
        table.add_column(col)
    for u in list_users(Workspace(workspace).store):
        table.add_row(u["username"], u["scope"], str(u["created_at"]))
    console.print(table)


@users_app.command("remove")
def users_remove(username: str = typer.Argument(...), workspace: Path = WS) -> None:
    """Remove a dashboard user; their session ends at their next request."""
    from tenure.access import remove_user

    remove_user(Workspace(workspace).store, username)
    console.print(f"Removed {username}.")


@customers_app.command("export")
def customers_export(customer_id: str = typer.Argument(..., metavar="ID"),
                     out: Path = typer.Option(None, "--out", help="Write the JSON here instead of printing it."),
                     workspace: Path = WS) -> None:
    """Everything held about one person, as JSON (a subject access request)."""
    from tenure.privacy import dumps, export

    found = export(Workspace(workspace), customer_id)
    if found is None:
        raise TenureError(f"nothing is held about {customer_id!r}", fix="check the id")
    if out:
        out.write_text(dumps(found), encoding="utf-8")
        console.print(f"Wrote {out}")
    else:
        print(dumps(found))


@customers_app.command("erase")
def customers_erase(customer_id: str = typer.Argument(..., metavar="ID"),
                    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
                    workspace: Path = WS) -> None:
    """Erase one person everywhere; their id is listed (hashed) so a re-ingest does not revive them."""
    from tenure.privacy import erase

    ws = Workspace(workspace)
    if not yes and not typer.confirm(f"Erase {customer_id} from every store of {ws.root.name}? This cannot be undone"):
        raise TenureError("nothing was erased", fix="answer yes, or pass --yes")
    counts = erase(ws, customer_id)
    removed = ", ".join(f"{k} {v:,}" for k, v in counts.items() if v) or "nothing was held"
    console.print(f"Erased {customer_id}: {removed}.")
