"""The `omnihub` command line."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

if TYPE_CHECKING:
    from config.settings import Settings


def _settings() -> Settings:
    from config.settings import load_settings

    return load_settings()


def _runtime():
    from hub.logging import configure
    from hub.runtime import Runtime, set_runtime

    st = _settings()
    configure(st.log_level, st.log_format)
    rt = Runtime(st)
    set_runtime(rt)
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.command not in _WITHOUT_SCHEMA:
        from hub.migrate import require_schema

        # one line naming the fix (hub.migrate.NotMigrated, an OmnihubError), not a traceback from the first query
        require_schema(rt.db, _safe_url(st.effective_database_url))
    return rt


#: the commands that run on a database without the schema: `db upgrade` creates it; the worker
#: and the poller wait for it (workers.poller); filled at the end of this module
_WITHOUT_SCHEMA: set[click.Command] = set()


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def _db_url_for_humans() -> str:
    """The configured database URL without its password (never print secrets)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(_settings().effective_database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - best effort, only for the message
        return "(unparseable URL)"


class Cli(click.Group):
    """Turns omnihub's own errors into one clear line instead of a traceback."""

    def invoke(self, ctx):
        from hub.errors import OmnihubError

        try:
            return super().invoke(ctx)
        except OmnihubError as exc:
            _fail(str(exc))
        except Exception as exc:
            # a database error can only come from a command that imported SQLAlchemy: the others
            # (`omnihub run`'s supervisor, `--help`) need not import it to tell
            sa_exc = sys.modules.get("sqlalchemy.exc")
            if sa_exc is None:
                raise
            if isinstance(exc, (sa_exc.ArgumentError, sa_exc.NoSuchModuleError)):
                _fail(f"OMNIHUB_DATABASE_URL is not a valid database URL ({type(exc).__name__}); "
                      "fix: set it to e.g. postgresql+psycopg://user@host:5432/omnihub or sqlite:////path/to/omnihub.db")
            if isinstance(exc, sa_exc.OperationalError):
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
                _fail(f"OMNIHUB_DATABASE_URL: cannot use the database {_db_url_for_humans()} ({reason}); "
                      "fix: start the database server or correct OMNIHUB_DATABASE_URL")
            raise


@click.group(name="omnihub", cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """omnihub: every customer channel into one inbox or your helpdesk.

    Settings come from OMNIHUB_* environment variables (see docs/settings.md).
    """
    from hub.files import restrict_umask

    restrict_umask()  # every omnihub process: new files 0600, new folders 0700


# ------------------------------------------------------------------ database
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the database schema."""
    rt = _runtime()
    from hub.connectors import ensure_builtin
    from hub.migrate import upgrade

    upgrade(rt.settings.effective_database_url, revision)
    ensure_builtin(rt)
    click.echo(f"database at {revision}: {_safe_url(rt.settings.effective_database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --------------------------------------------------------------------- users
@main.group()
def users() -> None:
    """Agents and admins."""


@users.command("create")
@click.option("--email", required=True, help="Login email.")
@click.option("--role", type=click.Choice(["admin", "agent"]), default="agent", show_default=True)
@click.option("--password", help="Password (generated and printed when omitted). Prefer --password-stdin: "
              "a password on the command line lands in the shell history and the process list.")
@click.option("--password-stdin", "from_stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--name", default="", help="Display name shown to customers.")
def users_create(email: str, role: str, password: str | None, from_stdin: bool, name: str) -> None:
    """Create a user."""
    from hub.auth import create_user

    if from_stdin:
        password = _new_password(True)
    rt = _runtime()
    with rt.db.session() as s:
        user, pw = create_user(s, email, role, password, name)
    click.echo(f"created {role} {user.email}")
    if not password:
        click.echo(f"password: {pw}")


def _new_password(from_stdin: bool) -> str:
    """A new password: from standard input (scripts) or typed twice at a hidden prompt,
    never on the command line (it would be in the shell history and the process list)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt="Repeat it")
    if len(password) < 8:
        _fail("the password must have at least 8 characters")
    return password


def _user(s, email: str):
    from sqlalchemy import select

    from hub.models import User

    user = s.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        _fail(f"no user with email {email!r} (see `omnihub users list`)")
    return user


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def users_list(as_json: bool) -> None:
    """List users: email, role, active, last login."""
    from sqlalchemy import select

    from hub.models import User

    rt = _runtime()
    with rt.db.read() as s:
        rows = [{"id": u.id, "email": u.email, "name": u.name, "role": u.role, "active": u.active,
                 "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                 "two_factor": u.totp_enabled_at is not None, "sso": u.oidc_subject is not None}
                for u in s.scalars(select(User).order_by(User.email))]
    if as_json:
        click.echo(json.dumps({"items": rows}, indent=2))
        return
    if not rows:
        click.echo("no users (create one with `omnihub users create --email ...`)")
    for r in rows:
        state = "active" if r["active"] else "DEACTIVATED"
        click.echo(f"{r['email']:<40} {r['role']:<6} {state:<11} last login {r['last_login_at'] or 'never'}")


@users.command("set-password")
@click.option("--email", required=True, help="The user's login email.")
@click.option("--password-stdin", "from_stdin", is_flag=True, help="Read the new password from standard input (scripts).")
def users_set_password(email: str, from_stdin: bool) -> None:
    """Give a user a new password (asked twice, hidden). Their web sessions end."""
    from hub import audit
    from hub.auth import hash_password

    password = _new_password(from_stdin)
    rt = _runtime()
    with rt.db.session() as s:
        user = _user(s, email)
        user.password_hash = hash_password(password)  # ends the user's sessions (hub.auth)
        audit.record(s, actor="cli", action="user.set_password", target_type="user", target_id=str(user.id))
    click.echo(f"new password set for {user.email}; their web sessions were ended")


def _set_active(email: str, active: bool) -> str:
    """Change a user's active flag (audited); a change ends their web sessions (hub.auth)."""
    from hub import assignment, audit

    rt = _runtime()
    requeue: set[int] = set()
    with rt.db.session() as s:
        user = _user(s, email)
        user.active = active
        if not active:  # offline, and their open conversations back to their teams' queues (docs/teams.md)
            requeue = assignment.deactivated(s, user.id, "cli")
        audit.record(s, actor="cli", action="user.activate" if active else "user.deactivate", target_type="user",
                       target_id=str(user.id))
        who = user.email
    if requeue:
        assignment.assign_teams(rt, requeue)
    return who


@users.command("deactivate")
@click.option("--email", required=True, help="The user's login email.")
def users_deactivate(email: str) -> None:
    """Deactivate a user: no login; their web sessions and API tokens stop working at once."""
    who = _set_active(email, False)
    click.echo(f"deactivated {who}: sessions ended, API tokens refused (reactivate with `omnihub users activate`)")


@users.command("activate")
@click.option("--email", required=True, help="The user's login email.")
def users_activate(email: str) -> None:
    """Reactivate a deactivated user."""
    click.echo(f"activated {_set_active(email, True)}")


@users.command("reset-2fa")
@click.option("--email", required=True, help="The user's login email.")
def users_reset_2fa(email: str) -> None:
    """Turn a user's two-factor sign-in off (lost phone, no recovery code left); they enrol again."""
    from hub import audit, totp

    rt = _runtime()
    with rt.db.session() as s:
        user = _user(s, email)
        had = user.totp_enabled_at is not None
        totp.disable(s, user)
        audit.record(s, actor="cli", action="user.reset_2fa", target_type="user", target_id=str(user.id))
        who = user.email
    click.echo(f"two-factor sign-in reset for {who}" if had else f"{who} had no two-factor sign-in; nothing to reset")


@main.group()
def tokens() -> None:
    """API bearer tokens."""


@tokens.command("create")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option("--name", default="", help="A label for the token.")
@click.option("--expires", default=None, metavar="30d|12h|2w|DATE",
              help="When the token stops working: a duration from now or a date (UTC), e.g. 30d or 2027-01-01. Default: never.")
def tokens_create(email: str, name: str, expires: str | None) -> None:
    """Create an API token; prints only the token on stdout."""
    from hub.auth import create_token, parse_expiry

    expires_at = parse_expiry(expires)
    rt = _runtime()
    with rt.db.session() as s:
        token = create_token(s, email, name, expires_at, actor="cli")
    click.echo(token)


@tokens.command("list")
@click.option("--email", default=None, help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tokens_list(email: str | None, as_json: bool) -> None:
    """List API tokens that are not revoked (the prefix only; the token itself is never stored)."""
    from hub.auth import list_tokens, token_json

    rt = _runtime()
    with rt.db.read() as s:
        rows = [token_json(r, with_owner=True) for r in list_tokens(s, email=email)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        expires = r["expires_at"] or "never"
        state = " EXPIRED" if r["expired"] else ""
        click.echo(f"{r['id']:>5}  {r['prefix']}…  {r['email']:30} {r['name'] or '-':16} created {r['created_at']}"
                   f"  last used {r['last_used_at'] or 'never'}  expires {expires}{state}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke an API token by id (see `omnihub tokens list`); it stops working at once."""
    from hub.auth import revoke_token

    rt = _runtime()
    with rt.db.session() as s:
        row = revoke_token(s, token_id, "cli")
        prefix = row.prefix
    click.echo(f"token {token_id} ({prefix}…) revoked")


# ---------------------------------------------------------------- connectors
@main.group()
def connectors() -> None:
    """Channel connectors and helpdesk backends."""


def _parse_sets(pairs: tuple[str, ...], secret_names: AbstractSet[str] = frozenset()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            _fail(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        k = k.strip()
        if k in secret_names:
            click.echo(f"warning: --set {k}=... puts a secret on the command line, where other local users see it "
                       f"(ps) and your shell history keeps it; use --set-secret {k} instead", err=True)
        out[k] = v
    return out


SET_SECRET_HELP = (
    "A secret key, its value read without the command line: KEY asks with a hidden prompt "
    "(or reads one line of stdin when stdin is not a terminal); KEY=env:VAR reads the "
    "environment variable VAR. Repeat as needed."
)


def _read_secrets(specs: tuple[str, ...]) -> dict[str, str]:
    """Values for ``--set-secret`` keys: from the environment (KEY=env:VAR), a hidden prompt,
    or one line of stdin per key (in the order given) when stdin is not a terminal."""
    out: dict[str, str] = {}
    stdin = sys.stdin  # (click.get_text_stream is deprecated since Click 8.5)
    for spec in specs:
        key, sep, source = spec.partition("=")
        key = key.strip()
        if not key:
            _fail(f"--set-secret expects KEY or KEY=env:VAR, got {spec!r}")
        if key in out:
            _fail(f"--set-secret {key} is given twice")
        if sep:
            var = source[4:] if source.startswith("env:") else ""
            if not var:
                _fail(f"--set-secret {key}=...: give KEY (prompt or stdin) or KEY=env:VAR, so the value never appears "
                      f"on the command line (a literal value belongs in --set {key}=VALUE)")
            value = os.environ.get(var, "")
            if not value:
                _fail(f"--set-secret {key}=env:{var}: the environment variable {var} is not set or empty")
        elif stdin.isatty():
            value = click.prompt(f"{key} (input hidden)", hide_input=True, err=True)
        else:
            line = stdin.readline()
            if not line:
                _fail(f"--set-secret {key}: stdin ended before a value for {key} (give one line per --set-secret key)")
            value = line.rstrip("\r\n")
        if not value:
            _fail(f"--set-secret {key}: the value is empty")
        out[key] = value
    return out


def _config_values(kind: str, sets: tuple[str, ...], secret_specs: tuple[str, ...]) -> dict[str, Any]:
    from hub.connectors import adapter_class
    from hub.errors import OmnihubError

    try:
        secret_names = set(adapter_class(kind).Config.secret_fields())
    except (OmnihubError, KeyError):  # an unknown kind: create() names the problem
        secret_names = set()
    values = _parse_sets(sets, secret_names)
    secrets_in = _read_secrets(secret_specs)
    for key in secrets_in.keys() & values.keys():
        _fail(f"{key} is given with --set and with --set-secret; give it once")
    return {**values, **secrets_in}


@connectors.command("add")
@click.argument("kind")
@click.option("--name", required=True, help="Connector name (used in webhook URLs).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A configuration key; repeat as needed.")
@click.option("--set-secret", "secret_specs", multiple=True, metavar="KEY[=env:VAR]", help=SET_SECRET_HELP)
@click.option("--disabled", is_flag=True, help="Create it disabled.")
def connectors_add(kind: str, name: str, sets: tuple[str, ...], secret_specs: tuple[str, ...], disabled: bool) -> None:
    """Add a connector of KIND (see `omnihub connectors kinds`)."""
    from hub.connectors import ConnectorService

    values = _config_values(kind, sets, secret_specs)
    rt = _runtime()
    svc = ConnectorService(rt)
    with rt.db.session() as s:
        row = svc.create(s, name, kind, values, actor="cli")
        row.enabled = not disabled
        s.flush()
        desc = svc.describe(row)
    click.echo(f"added {kind} connector {name!r}")
    for hook, url in desc.get("webhooks", {}).items():
        click.echo(f"  webhook {hook}: {url}")


@connectors.command("set")
@click.argument("name")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A configuration key; repeat as needed.")
@click.option("--set-secret", "secret_specs", multiple=True, metavar="KEY[=env:VAR]", help=SET_SECRET_HELP)
def connectors_set(name: str, sets: tuple[str, ...], secret_specs: tuple[str, ...]) -> None:
    """Change keys of a connector."""
    from hub.connectors import ConnectorService

    if not sets and not secret_specs:
        _fail("give at least one --set KEY=VALUE or --set-secret KEY")
    rt = _runtime()
    svc = ConnectorService(rt)
    with rt.db.read() as s:
        kind = svc.get(s, name).kind
    values = _config_values(kind, sets, secret_specs)  # no transaction open while a prompt waits
    with rt.db.session() as s:
        svc.update(s, name, values, actor="cli")
    click.echo(f"updated {name!r}")


@connectors.command("kinds")
def connectors_kinds() -> None:
    """List connector kinds and their keys (secrets marked)."""
    from hub.connectors import all_kinds, is_channel

    for kind, cls in sorted(all_kinds().items()):
        role = "channel" if is_channel(kind) else "helpdesk"
        secret = cls.Config.secret_fields()
        keys = []
        for k, f in cls.Config.model_fields.items():
            mark = "*" if f.is_required() else ""
            keys.append(f"{k}{mark}{' (secret)' if k in secret else ''}")
        click.echo(f"{kind:16} {role:8} {', '.join(keys)}")
    click.echo("(* required)")


@connectors.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def connectors_list(as_json: bool) -> None:
    """List connectors with their health."""
    from sqlalchemy import select

    from hub import health
    from hub.connectors import ConnectorService
    from hub.models import Connector

    rt = _runtime()
    svc = ConnectorService(rt)
    with rt.db.read() as s:
        rows = [svc.describe(r) for r in s.scalars(select(Connector).order_by(Connector.name)) if "~deleted~" not in r.name]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        h = r["health"]
        status = "enabled" if r["enabled"] else "disabled"
        last = h.get("last_inbound_at") or "-"
        err = f"  last error: {h['last_error']}" if h.get("last_error") else ""
        healthy, reason = health.evaluate(h, rt.settings.connector_failing_after)
        red = "" if healthy else f"  RED: {reason}"
        click.echo(f"{r['name']:20} {r['kind']:14} {r['role']:8} {status:8} last inbound {last}{red or err}")


@connectors.command("show")
@click.argument("name")
def connectors_show(name: str) -> None:
    """Show a connector (secrets masked) and its webhook URLs."""
    from hub.connectors import ConnectorService

    rt = _runtime()
    svc = ConnectorService(rt)
    with rt.db.read() as s:
        click.echo(json.dumps(svc.describe(svc.get(s, name)), indent=2, ensure_ascii=False))


@connectors.command("check")
@click.argument("name")
def connectors_check(name: str) -> None:
    """Test the connector's credentials against the provider."""
    from hub.api import run_check
    from hub.connectors import ConnectorService

    rt = _runtime()
    svc = ConnectorService(rt)
    with rt.db.read() as s:
        row = svc.get(s, name)
    result = run_check(rt, svc, row, actor="cli")
    click.echo(f"{'OK' if result['ok'] else 'FAILED'}: {result['summary']}")
    for k, v in result["details"].items():
        click.echo(f"  {k}: {v}")
    if not result["ok"]:
        raise SystemExit(1)


@connectors.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def connectors_remove(name: str, yes: bool) -> None:
    """Remove a connector (disabled and renamed if it has history)."""
    from hub.connectors import ConnectorService

    if not yes:
        click.confirm(f"remove connector {name!r}?", abort=True)
    rt = _runtime()
    with rt.db.session() as s:
        ConnectorService(rt).delete(s, name, actor="cli")
    click.echo(f"removed {name!r}")


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: str) -> tuple[str, list[str]]:
    """``${VAR}`` references replaced from the environment; the names that are unset or empty."""
    missing: list[str] = []

    def one(m: re.Match[str]) -> str:
        got = os.environ.get(m.group(1), "")
        if not got:
            missing.append(m.group(1))
        return got

    return _ENV_REF.sub(one, value), missing


@connectors.command("apply")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def connectors_apply(path: str) -> None:
    """Create or update connectors from a YAML file (see config/connectors.example.yaml).

    Values written as ${VAR} are read from the environment, so secrets stay out of the file.
    """
    import yaml

    from hub.connectors import ConnectorService
    from hub.errors import NotFound

    data = yaml.safe_load(Path(path).read_text()) or {}
    items = data.get("connectors", data) if isinstance(data, dict) else data
    if isinstance(items, dict):
        items = [{"name": k, **v} for k, v in items.items()]
    rt = _runtime()
    svc = ConnectorService(rt)
    planned: list[tuple[str, str, bool, dict]] = []
    problems: list[str] = []
    for item in items:
        item = dict(item)
        name, kind = item.pop("name"), item.pop("kind")
        enabled = item.pop("enabled", True)
        values = {}
        for key, value in (item.pop("config", item) or {}).items():
            if isinstance(value, str):
                value, missing = _expand_env(value)
                problems.extend(f"{name}.{key}: the environment variable {var} is not set or empty" for var in missing)
            values[key] = value
        planned.append((name, kind, enabled, values))
    if problems:
        # never store "${VAR}" itself as a secret (anyone who read the docs could sign with it)
        _fail("nothing applied: " + "; ".join(problems) + " — export them (or remove the keys) and run apply again")
    for name, kind, enabled, values in planned:
        with rt.db.session() as s:
            try:
                svc.get(s, name)
                svc.update(s, name, values, actor="cli", enabled=enabled)
                click.echo(f"updated {name}")
            except NotFound:
                row = svc.create(s, name, kind, values, actor="cli")
                row.enabled = enabled
                click.echo(f"created {name}")


@connectors.command("backfill")
@click.argument("name")
@click.option("--since", help="Only messages since this date (YYYY-MM-DD).")
def connectors_backfill(name: str, since: str | None) -> None:
    """Ingest a connector's history (for channels that can list past messages)."""
    from datetime import date

    from hub.connectors import ConnectorService
    from workers.poller import Sink

    rt = _runtime()
    svc = ConnectorService(rt)
    with rt.db.read() as s:
        row = svc.get(s, name)
    adapter = svc.adapter(row)
    if not getattr(adapter, "supports_backfill", False):
        _fail(f"connector {name!r} ({row.kind}) cannot backfill")
    since_d = date.fromisoformat(since) if since else None
    with click.progressbar(length=0, label=f"backfilling {name}", show_pos=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        count = adapter.backfill(Sink(rt, row.id), since=since_d, progress=progress)
    click.echo(f"journaled {count} new messages from {name}")


# -------------------------------------------------------------------- replay
@main.command()
@click.option("--what", type=click.Choice(["all", "deliveries", "replies", "events", "event_deliveries"]), default="all",
              show_default=True, help="event_deliveries: event-webhook deliveries that gave up.")
@click.option("--id", "ids", type=int, multiple=True, help="Only these row ids (repeatable).")
@click.option("--connector", help="Only work of this connector (helpdesk for deliveries).")
@click.option("--dry-run", is_flag=True, help="Only show what would be replayed.")
@click.option("--include-permanent", is_flag=True,
              help="Also send again replies that failed for good (opted-out customer, automatic address, number refused by the provider).")
def replay(what: str, ids: tuple[int, ...], connector: str | None, dry_run: bool, include_permanent: bool) -> None:
    """Replay dead deliveries, failed replies, quarantined events and dead event-webhook deliveries."""
    from hub import replay as replay_mod

    rt = _runtime()
    if dry_run:
        with rt.db.read() as s:
            dead = replay_mod.dead_letters(s, limit=100000)
        for kind, items in dead.items():
            if what in ("all", kind):
                items = [i for i in items if (not ids or i["id"] in ids) and (not connector or i["connector"] == connector)]
                click.echo(f"{kind}: {len(items)}")
                for i in items[:20]:
                    click.echo(f"  #{i['id']} {i['connector']} {i['state']} after {i['attempts']} attempts: {i['error']}")
        return

    def progress(kind: str, done: int, total: int) -> None:
        click.echo(f"\r{kind}: {done}/{total}", nl=done >= total)

    counts = replay_mod.replay(rt, what=what, ids=list(ids) or None, connector=connector, progress=progress,
                               include_permanent=include_permanent)
    left_out = counts.pop("replies_left_out", 0)
    events_left_out = counts.pop("event_deliveries_left_out", 0)
    from hub import audit

    with rt.db.session() as s:
        audit.record(s, actor="cli", action="dead_letters.replay", target_type=what, target_id=",".join(map(str, ids)),
                     details={**counts, **({"connector": connector} if connector else {})})
    click.echo("replayed " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if left_out:
        click.echo(f"left out {left_out} replies that failed for good (opted out, automatic address, refused number); "
                   "--include-permanent sends them too")
    if events_left_out:
        click.echo(f"left out {events_left_out} event-webhook deliveries of disabled subscriptions: enable the subscription "
                   "(Admin → Event webhooks, or PATCH /api/v1/event-subscriptions/<id> {\"enabled\": true}) and replay them")


@main.command()
@click.option("--json", "as_json", is_flag=True)
def stats(as_json: bool) -> None:
    """Counts of work by state, the queue backlog, and which poller holds which poll."""
    from hub import replay as replay_mod

    rt = _runtime()
    out = replay_mod.stats(rt)
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            if isinstance(v, list):  # leases, pollers: one line each
                click.echo(f"{k:16} " + (", ".join(" ".join(f"{a}={b}" for a, b in row.items()) for row in v) or "none"))
            else:
                click.echo(f"{k:16} " + (", ".join(f"{s}={n}" for s, n in v.items()) or "none"))
    if any(isinstance(v, dict) and "error" in v for v in out.values()):
        # what could be read is printed; a script still sees that Redis could not be
        from hub.redisconn import describe

        _fail(f"Redis at {describe(rt.settings, rt.redis_url)} could not be read (the queue backlog, "
              "leases and pollers above are missing): check OMNIHUB_REDIS_URL (or OMNIHUB_REDIS_SENTINELS) and that it answers")


# ------------------------------------------------------------------ contacts
@main.group()
def contacts() -> None:
    """A customer's data: erase it (right to erasure) or export it (right of access)."""


@contacts.command("erase")
@click.argument("contact_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def contacts_erase(contact_id: int, yes: bool) -> None:
    """Erase contact CONTACT_ID for good: its identities, conversations, messages, replies,
    attachment files, journal rows and helpdesk links, and the contacts merged into it.
    Linked helpdesk tickets are queued for removal where the backend supports it (the poller
    asks, with retries). The audit log keeps the contact id and the counts only."""
    from sqlalchemy import func, select

    from hub import erasure
    from hub.models import Contact, Identity

    rt = _runtime()
    with rt.db.read() as s:
        c = s.get(Contact, contact_id)
        if c is None:
            _fail(f"contact {contact_id} not found")
        assert c is not None
        n_ident = s.scalar(select(func.count()).select_from(Identity).where(Identity.contact_id == contact_id))
    if not yes:
        click.confirm(f"erase contact {contact_id} ({n_ident} identities) and everything stored about it? This cannot be undone",
                      abort=True)
    click.echo(f"erasing contact {contact_id} ...")
    counts = erasure.erase(rt, contact_id, actor="cli")
    for key, value in counts.items():
        if isinstance(value, int):
            click.echo(f"  {key:24} {value}")
    if counts.get("tickets_queued"):
        click.echo(f"{counts['tickets_queued']} helpdesk ticket(s) queued for removal: a running poller asks the helpdesk; "
                   "see `omnihub contacts removals`")
    if counts.get("tickets_unsupported"):
        click.echo(f"{counts['tickets_unsupported']} helpdesk ticket(s) must be removed by hand (the backend cannot delete): "
                   "see `omnihub contacts removals`")
    if str(counts.get("wal_checkpoint", "")).startswith("incomplete"):
        click.echo(f"warning: {counts['wal_checkpoint']} (stop the hub, or run the erasure again later, to fold it in now)", err=True)
    click.echo(f"erased contact {contact_id}")


@contacts.command("export")
@click.argument("contact_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True,
              help="Write the zip here (contact.json and attachments/).")
def contacts_export(contact_id: int, output: str) -> None:
    """Export contact CONTACT_ID's data as a zip: contact.json (contact, identities,
    conversations with messages and replies) and the attachment files."""
    from hub import erasure

    rt = _runtime()
    with open(output, "wb") as out:
        counts = erasure.export(rt, contact_id, out, actor="cli")
    click.echo(f"wrote {output}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@contacts.command("removals")
@click.option("--json", "as_json", is_flag=True)
def contacts_removals(as_json: bool) -> None:
    """Helpdesk ticket removals asked for by erasures, with their state."""
    from sqlalchemy import select

    from hub.erasure import removal_json
    from hub.models import Connector, TicketRemoval

    rt = _runtime()
    with rt.db.read() as s:
        rows = s.execute(select(TicketRemoval, Connector.name).join(Connector, Connector.id == TicketRemoval.helpdesk_id)
                         .order_by(TicketRemoval.id)).all()
        items = [removal_json(r, name) for r, name in rows]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for i in items:
        click.echo(f"#{i['id']} {i['helpdesk']} ticket {i['external_ref']}: {i['state']} after {i['attempts']} attempts"
                   + (f" ({i['last_error']})" if i["last_error"] else ""))
    if not items:
        click.echo("no ticket removals")


# ----------------------------------------------------------------- retention
@main.group()
def retention() -> None:
    """Retention policies: per connector, delete or anonymize what is older than N days."""


@retention.command("set")
@click.argument("connector")
@click.option("--days", type=click.IntRange(1, 36500), required=True, help="Keep this many days.")
@click.option("--action", type=click.Choice(["delete", "anonymize"]), default="delete", show_default=True,
              help="delete: remove old conversations and messages; anonymize: keep the rows, blank their content.")
def retention_set(connector: str, days: int, action: str) -> None:
    """Set CONNECTOR's retention policy (the poller applies it; `retention run --dry-run` shows what it would do)."""
    from hub import retention as ret

    rt = _runtime()
    with rt.db.session() as s:
        p = ret.set_policy(s, connector, days, action, actor="cli")
    click.echo(f"{p['connector']}: {p['action']} after {p['days']} days")


@retention.command("remove")
@click.argument("connector")
def retention_remove(connector: str) -> None:
    """Remove CONNECTOR's retention policy (its data is then kept)."""
    from hub import retention as ret

    rt = _runtime()
    with rt.db.session() as s:
        removed = ret.remove_policy(s, connector, actor="cli")
    click.echo(f"{connector}: policy removed" if removed else f"{connector}: had no policy")


@retention.command("list")
@click.option("--json", "as_json", is_flag=True)
def retention_list(as_json: bool) -> None:
    """The retention policies, with their last run."""
    from hub import retention as ret

    rt = _runtime()
    with rt.db.read() as s:
        items = ret.list_policies(s)
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for p in items:
        last = ", ".join(f"{n} {k}" for k, n in (p["last_result"] or {}).items() if n) or "nothing"
        line = f"{p['connector']}: {p['action']} after {p['days']} days; last run {p['last_run_at'] or 'never'} ({last})"
        if p.get("last_change_at") and p["last_change_at"] != p["last_run_at"]:  # the last run changed nothing
            changed = ", ".join(f"{n} {k}" for k, n in p["last_change"].items() if n)
            line += f"; last change {p['last_change_at']} ({changed})"
        click.echo(line)
    if not items:
        click.echo("no retention policies: everything is kept")


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted or anonymized.")
@click.option("--connector", default=None, help="Only this connector's policy.")
@click.option("--json", "as_json", is_flag=True)
def retention_run(dry_run: bool, connector: str | None, as_json: bool) -> None:
    """Apply the retention policies now (the poller also does, every OMNIHUB_RETENTION_INTERVAL)."""
    from hub import retention as ret

    rt = _runtime()

    def progress(p, counts) -> None:
        if not as_json:
            click.echo(f"\r{p.connector}: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n), nl=False)

    out = ret.run_all(rt, dry_run=dry_run, connector=connector, actor="cli", progress=progress)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    if not dry_run and out:
        click.echo("")
    verb = "would change" if dry_run else "changed"
    for name, c in out.items():
        counts = ", ".join(f"{c[k]} {k}" for k in (*ret.COUNT_KEYS, "files") if k in c)
        click.echo(f"{name} ({c['action']} before {c['cutoff'][:19]}Z): {verb} {counts}")
    if not out:
        click.echo("no retention policies: nothing to do")


# --------------------------------------------------------------------- audit
@main.group()
def audit() -> None:
    """The tamper-evident audit log: verify the hash chain, export entries."""


def _when(value: str | None, name: str):
    from datetime import UTC, datetime

    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("not an ISO-8601 date/time", param_hint=name) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if name == "--until" and len(value.strip()) == 10:  # a day alone: that whole day is included
        from datetime import timedelta

        when += timedelta(days=1)
    return when


@audit.command("verify")
def audit_verify() -> None:
    """Check the whole chain: exit 0 when intact, 1 naming the first broken entry."""
    from hub import audit as audit_mod

    rt = _runtime()
    with rt.db.read() as s:
        v = audit_mod.verify(s)
    if not v.ok:
        click.echo(f"audit chain BROKEN at entry {v.broken_id}: {v.reason} ({v.count} entries before it verified)", err=True)
        raise SystemExit(1)
    click.echo(f"{v.count} entries, chain intact; head {v.head or '(empty)'}")


@audit.command("export")
@click.option("--since", default=None, metavar="DATE", help="Only entries at or after this ISO-8601 date/time.")
@click.option("--until", default=None, metavar="DATE", help="Only entries before this ISO-8601 date/time.")
@click.option("--actor", default="", help="Only this actor (an email, cli, oidc, system).")
@click.option("--action", default="", help="Only this action (e.g. user.login; a trailing dot: every user.* action).")
def audit_export(since: str | None, until: str | None, actor: str, action: str) -> None:
    """Entries as JSON lines, oldest first, with their hashes (to standard output)."""
    from hub import audit as audit_mod

    start, end = _when(since, "--since"), _when(until, "--until")
    rt = _runtime()
    after = 0
    with rt.db.read() as s:
        while True:
            rows = s.scalars(audit_mod.query(actor, action, start, end, after=after).order_by(audit_mod.AuditLog.id).limit(1000)).all()
            if not rows:
                break
            for row in rows:
                click.echo(json.dumps(audit_mod.entry_json(row), ensure_ascii=False, sort_keys=True))
            after = rows[-1].id
            s.expunge_all()


# ------------------------------------------------------------------ simulate
@main.command()
@click.argument("connector")
@click.option("--text", "text", required=True, help="Message text.")
@click.option("--from", "sender", default="demo-customer", show_default=True, help="Sender id on the channel.")
@click.option("--name", default=None, help="Sender display name.")
@click.option("--email", default=None, help="Sender email (api channel).")
@click.option("--url", default=None, help="Hub base URL (default: the running `omnihub run` of this VAR_DIR, else OMNIHUB_PUBLIC_URL).")
def simulate(connector: str, text: str, sender: str, name: str | None, email: str | None, url: str | None) -> None:
    """Send a correctly signed provider request to a running hub, as the provider would."""
    import httpx

    from hub.connectors import ConnectorService

    rt = _runtime()
    svc = ConnectorService(rt)
    with rt.db.read() as s:
        row = svc.get(s, connector)
    adapter = svc.adapter(row)
    running = rt.settings.var_dir / "web.url"  # written by `omnihub run` while it runs
    recorded = running.read_text().strip() if running.is_file() else ""
    base = (url or recorded or rt.settings.effective_public_url).rstrip("/")
    # a provider signs the URL it calls (Twilio): the one posted to, not this terminal's OMNIHUB_PORT
    adapter.ctx.public_url = base
    try:
        hook, headers, body = adapter.simulate(text, sender, name=name, email=email)
    except NotImplementedError as exc:
        _fail(str(exc))
    target = f"{base}/webhooks/{connector}/{hook}"
    try:
        resp = httpx.post(target, content=body, headers=headers, timeout=15)
    except httpx.HTTPError as exc:
        found = f"the URL recorded in {running}" if recorded and not url else ("--url" if url else "OMNIHUB_PUBLIC_URL")
        _fail(f"could not reach {target} ({found}): {exc.__class__.__name__}: {exc} — is `omnihub run` running? "
              "Pass the hub's address with --url http://HOST:PORT")
    click.echo(f"POST {target} -> {resp.status_code} {resp.text[:200]}")
    if resp.status_code >= 300:
        raise SystemExit(1)


# ------------------------------------------------------------------ processes
@main.command()
@click.option("--host", help="Bind address (default OMNIHUB_HOST).")
@click.option("--port", type=int, help="Port (default OMNIHUB_PORT).")
@click.option("--workers", type=int, help="Gunicorn worker processes (default OMNIHUB_WEB_WORKERS).")
def web(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the web process (webhooks, API, inbox) under gunicorn."""
    st = _settings()
    bind = f"{host or st.host}:{port or st.port}"
    args = [
        sys.executable, "-m", "gunicorn", "hub.wsgi:app",
        "--bind", bind,
        "--workers", str(workers or st.web_workers),
        "--worker-class", "gthread", "--threads", str(st.web_threads),
        "--timeout", "60", "--graceful-timeout", "10",
        "--forwarded-allow-ips", "127.0.0.1",
        "--logger-class", "hub.weblog.MaskingLogger",  # no /media tokens in access or error logs
    ]
    if st.log_level == "DEBUG":  # otherwise none at all (to /dev/null, each line was still formatted)
        args += ["--access-logfile", "-"]
    if (workers or st.web_workers) > 1:
        # the app is imported once, in the master, and the workers fork from it: the pages they
        # do not write stay shared. With one worker the master would only hold a second copy.
        args.append("--preload")
    args += control_socket_args(st)
    os.execv(sys.executable, args)


#: longest path a Unix socket can bind to (sun_path is 108 bytes on Linux, with its NUL)
UNIX_PATH_MAX = 107


def control_socket_args(st: Settings) -> list[str]:
    """gunicorn's control socket (gunicorn 25.1+, for ``gunicornc``), per instance: by default
    gunicorn puts it at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
    ~/.gunicorn/gunicorn.ctl), so two hubs on one machine took each other's socket (and the
    first to stop removed the other's). Here it is VAR_DIR/gunicorn.ctl (0600, in the 0700
    VAR_DIR), or none when that path is too long for a Unix socket or VAR_DIR cannot be
    written (a read-only root file system, as deploy/kubernetes/ runs it: gunicorn logged a
    "Control server error" at every start). omnihub itself never uses the control socket."""
    from importlib.metadata import version

    try:
        major, minor = (int(x) for x in version("gunicorn").split(".")[:2])
    except Exception:  # noqa: BLE001 - an unknown version: leave gunicorn's default alone
        return []
    if (major, minor) < (25, 1):
        return []
    path = (st.var_dir / "gunicorn.ctl").resolve()
    if len(str(path).encode()) > UNIX_PATH_MAX:
        return ["--no-control-socket"]
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return ["--no-control-socket"]
    if not os.access(path.parent, os.W_OK):
        return ["--no-control-socket"]
    return ["--control-socket", str(path), "--control-socket-mode", "0600"]


@main.command()
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--fork", is_flag=True, help="Fork a child per job (isolation) instead of running jobs in-process.")
@click.option("--poll", "with_poller", is_flag=True,
              help="Also run the poller (its loops, the sweeper, the timers) in this process, as `omnihub run` does: "
                   "one process fewer on a small machine.")
def worker(burst: bool, fork: bool, with_poller: bool) -> None:
    """Run an RQ worker over the queues inbound, push, send and default."""
    if fork and with_poller:  # a fork per job while the poller's threads hold locks: no
        raise click.UsageError("--poll runs the poller's threads in this process; it cannot be combined with --fork")
    from rq import SimpleWorker, Worker
    from rq.serializers import JSONSerializer

    import workers.jobs  # noqa: F401 - imported now, so the startup heap below includes the stages
    from hub.jobguard import OmnihubJob
    from hub.runtime import freeze_startup_heap

    rt = _runtime()
    if not _await_redis(rt):
        return  # stopped (SIGTERM/SIGINT) while it waited for Redis
    _warn_if_redis_is_open(rt.redis_url, rt.settings)
    # the normalizers' patterns and models, built once here: not in every job's child with
    # --fork (about a second of CPU each), not in the first job without (P2R: inside the burst)
    from normalizers import pipeline

    pipeline.warm()
    cls = _prompt_teardown(Worker if fork else SimpleWorker)
    poller = _poller_thread(rt) if with_poller else None
    # event webhooks go out on threads of their own, never in a job (a slow receiver must not
    # hold up ingest); not beside --fork (a fork per job while threads hold locks): `omnihub poll` sends them
    dispatcher = None if fork else _event_dispatcher(rt)

    def make():  # OmnihubJob: only omnihub's own job functions run (hub.jobguard.JOB_FUNCTIONS)
        w = cls(rt.queues.all(), connection=rt.redis, serializer=JSONSerializer, job_class=OmnihubJob)
        if poller:
            stop_worker = w.request_stop  # what RQ installs for SIGTERM and SIGINT when it starts working

            def request_stop(signum, frame) -> None:
                poller.stop.set()  # the poller gives its leases back now, not after RQ's teardown
                stop_worker(signum, frame)

            w.request_stop = request_stop  # type: ignore[method-assign]
        return w

    freeze_startup_heap()
    try:
        run_worker(make, burst=burst, logging_level="DEBUG" if rt.settings.log_level == "DEBUG" else "WARNING", ping=rt.redis.ping)
    finally:
        if dispatcher:
            dispatcher.close()
        if poller:
            poller.stop.set()  # it gives its leases back, so a restarted process takes over at once
            poller.done.wait(rt.settings.poll_lease_seconds)


def _event_dispatcher(rt):
    from workers.webhooks_out import start_dispatcher

    dispatcher = start_dispatcher(rt)
    if dispatcher is not None:
        import structlog

        structlog.get_logger("omnihub.events").info("event_webhooks.started", sender_threads=dispatcher.threads)
    return dispatcher


def _poller_thread(rt):
    """The poller on a thread of this process; if it ever ends by itself, the process stops
    (SIGTERM to itself: the worker finishes its job) and whoever supervises it restarts both."""
    import signal
    import threading

    import structlog

    from workers import intel
    from workers.poller import Poller, install_timers

    intel.install()  # its periodic SLA tick
    install_timers()  # the assignment timer (teams): the same timers as `omnihub poll`
    poller = Poller(rt)
    poller.done = threading.Event()  # type: ignore[attr-defined]

    def run() -> None:
        try:
            poller.run()
        except BaseException:
            structlog.get_logger("omnihub.worker").exception("poller.crashed")
        finally:
            poller.done.set()  # type: ignore[attr-defined]
            if not poller.stop.is_set():
                os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=run, name="omnihub-poller", daemon=True).start()
    structlog.get_logger("omnihub.worker").info("poller.started", where="worker thread")
    return poller


_W = TypeVar("_W", bound=type)


def _prompt_teardown(base: _W) -> _W:
    """``base`` (an RQ worker class) whose teardown does not wait on its command listener.

    RQ listens for its commands (``rq`` CLI: shutdown, kill-horse) on a pub/sub thread that
    blocks up to 60 s per read; at teardown it sends UNSUBSCRIBE, then stops that thread and
    waits for it. When the thread consumed the UNSUBSCRIBE confirmation before its run flag
    was cleared, it is back in a 60 s read and the stopping worker waited that long (a SIGTERM
    that took a minute, or a supervisor's SIGKILL). The thread is a daemon that holds nothing
    of ours: its flag is cleared first (the confirmation then ends it), and it gets 1 s."""
    import inspect

    class PromptTeardown(base):  # type: ignore[misc, valid-type]
        def unsubscribe(self) -> None:
            thread = getattr(self, "pubsub_thread", None)
            if thread is None:
                return super().unsubscribe()
            if "timeout" in inspect.signature(thread.stop).parameters:
                thread.stop(timeout=0)  # redis-py >= 8: clears the flag, waits for nothing
            else:
                thread.stop()  # earlier redis-py: clears the flag only
            try:
                self.pubsub.unsubscribe()
            except Exception:  # noqa: BLE001 - the thread may have closed the pub/sub meanwhile
                pass
            thread.join(timeout=1)

    return cast(_W, PromptTeardown)


#: seconds between attempts to reach Redis again after a worker's loop ended (doubling up
#: to the second value; back to the first after a worker ran STEADY seconds)
WORKER_BACKOFF = (0.25, 15.0)
STEADY = 60.0


def run_worker(make, *, burst: bool = False, logging_level: str = "WARNING", ping=None) -> None:
    """Run RQ workers from ``make()`` until stopped (SIGTERM/SIGINT) or, with ``burst``, idle.

    RQ waits out a connection error only while it waits for a job; a Redis error anywhere
    else (a heartbeat, a job's bookkeeping, its registries) ends its loop ("unhandled
    exception, quitting"). That is what a Redis failover, or a restart, looks like: here the
    worker then waits until Redis answers (with Sentinel: the new master) and starts again
    with a fresh RQ worker. A job lost on the way is not lost work: its rows stay pending
    in SQL and the sweeper schedules them again. ``ping``: how to ask Redis whether it
    answers when ``make()`` itself failed on a Redis error (no worker to ask through)."""
    import signal
    import threading
    import time

    import structlog
    from redis.exceptions import RedisError
    from rq.exceptions import StopRequested

    from hub.redisconn import short_error

    log = structlog.get_logger("omnihub.worker")
    delay = WORKER_BACKOFF[0]
    while True:
        started = time.monotonic()
        w = None
        try:
            w = make()
        except RedisError as exc:  # RQ's worker names itself to Redis (CLIENT SETNAME) when made
            if ping is None or burst:
                raise
            log.warning("worker.redis_error", error=short_error(exc))
        if w is not None:
            try:
                w.work(burst=burst, with_scheduler=False, logging_level=logging_level)
            except StopRequested:
                return
            except RedisError as exc:  # raised by RQ's teardown (register_death) when Redis is gone
                log.warning("worker.redis_error", error=short_error(exc))
            # a stop asked for (SIGTERM/SIGINT): RQ sets _stop_requested only when the signal came
            # during a job; an idle worker's loop ends on the same StopRequested, caught inside
            # work(), with only the request's date set. Either way: stop, never start again.
            if burst or w._stop_requested or getattr(w, "_shutdown_requested_date", None) is not None:
                return
        # The loop ended by itself: Redis went away (or an error RQ logged). Wait for Redis,
        # stoppable by SIGTERM/SIGINT (RQ's handlers, still installed, would ask Redis first).
        if time.monotonic() - started > STEADY:
            delay = WORKER_BACKOFF[0]
        stop = threading.Event()
        previous = {sig: signal.signal(sig, _setter(stop)) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.wait(delay):
                delay = min(delay * 2, WORKER_BACKOFF[1])
                try:
                    (w.connection.ping if w is not None else ping)()
                    break
                except RedisError as exc:
                    log.warning("worker.waiting_for_redis", error=short_error(exc), retry_in=delay)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if stop.is_set():
            return
        log.warning("worker.restarting", note="Redis answers again; rows left pending are scheduled again by the sweeper")


#: log the same "waiting for Redis" line again after this many seconds (else only when it changes)
REDIS_WAIT_REPEAT = 60.0


def _await_redis(rt, who: str = "worker") -> bool:
    """Before a worker (or a poller: ``who``) starts: wait until Redis answers (with Sentinel:
    the master they name).

    While it does not answer (refused, timed out, sentinels unreachable or naming no master
    yet) one line says which setting is involved and the fix (``hub.redisconn.diagnose``),
    again when that changes or every REDIS_WAIT_REPEAT seconds, and the worker tries again
    with a backoff doubling from WORKER_BACKOFF[0] to WORKER_BACKOFF[1] seconds. A problem
    only a change of settings can fix (a malformed OMNIHUB_REDIS_URL, a refused password, a
    master name the reachable sentinels do not monitor) is one ``error:`` line and exit 1.
    False when stopped (SIGTERM/SIGINT) while waiting."""
    import signal
    import threading
    import time

    import structlog
    from redis.exceptions import RedisError

    from hub.redisconn import diagnose

    log = structlog.get_logger(f"omnihub.{who}")
    delay = WORKER_BACKOFF[0]
    said, said_at = "", 0.0
    stop = threading.Event()
    previous: dict[int, Any] = {}
    try:
        while True:
            try:
                rt.redis.ping()
            except (RedisError, ValueError, OSError) as exc:
                problem = diagnose(exc, rt.settings, rt.redis_url)
            else:
                if said:
                    log.warning(f"{who}.redis_back", note=f"Redis answers; the {who} starts")
                return True
            if problem.fatal:
                _fail(problem.message)
            if problem.message != said or time.monotonic() - said_at >= REDIS_WAIT_REPEAT:
                log.warning(f"{who}.waiting_for_redis", problem=problem.message, retry_in=delay)
                said, said_at = problem.message, time.monotonic()
            if not previous:
                previous = {sig: signal.signal(sig, _setter(stop)) for sig in (signal.SIGTERM, signal.SIGINT)}
            if stop.wait(delay):
                return False
            delay = min(delay * 2, WORKER_BACKOFF[1])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _setter(event):
    """A signal handler that sets ``event``."""
    return lambda *_: event.set()


def _warn_if_redis_is_open(url: str, settings: Settings | None = None) -> None:
    """Whoever can write to the queues' Redis decides what workers do: say so when the URL
    carries no credentials (the embedded Redis always has a password). With Sentinel the
    URL holds the master's credentials too."""
    from urllib.parse import urlsplit

    import structlog

    from hub.redisconn import describe

    parts = urlsplit(url)
    if not parts.password and "password=" not in parts.query:
        structlog.get_logger("omnihub.worker").warning(
            "redis.no_password", host=describe(settings, url),
            fix="give the Redis a password or an ACL user and put it in OMNIHUB_REDIS_URL (redis://USER:PASSWORD@host:6379/0)")


@main.command()
@click.option("--no-sweep", is_flag=True, help="Do not run the sweeper in this process.")
def poll(no_sweep: bool) -> None:
    """Run the poller: IMAP IDLE, X and Slack Socket Mode loops, the sweeper, SLA timers."""
    import structlog

    from workers.poller import run as run_poller

    rt = _runtime()
    if not _await_redis(rt, "poller"):  # stopped while waiting
        return
    structlog.get_logger("omnihub.poller").info("poller.started", where="process")
    dispatcher = _event_dispatcher(rt)
    try:
        run_poller(rt, sweep_enabled=not no_sweep)
    finally:
        if dispatcher:
            dispatcher.close()


@main.command()
@click.option("--host", help="Bind address (default OMNIHUB_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default OMNIHUB_PORT, 8000).")
def run(host: str | None, port: int | None) -> None:
    """Run everything on one machine: embedded Redis, migrations, web, and a worker that also polls."""
    from hub import bootstrap

    bootstrap.run_all(host=host, port=port)


@main.command(name="run-setup", hidden=True)
@click.option("--host")
@click.option("--port", type=int)
def run_setup(host: str | None, port: int | None) -> None:
    """`omnihub run`'s one-shot setup (settings, migrations, first admin, demo connector):
    prints what the supervisor needs as one JSON line on stdout (a pipe to it)."""
    from hub import bootstrap

    click.echo(json.dumps(bootstrap.setup(host=host, port=port)))


_WITHOUT_SCHEMA.update({db_upgrade, worker, poll, run_setup})


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="omnihub")
