"""The ``sso-bridge`` command group."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import Flask

from sso_bridge import create_app
from sso_bridge.db import make_engine
from sso_bridge.directory.base import DirectoryUnavailable
from sso_bridge.identity import IdentityConflict, IdentityMap, ImportRefused, ImportReport
from sso_bridge.schema import SchemaProblem, require_current, upgrade
from sso_bridge.settings import load_settings, own_database_url, raw_from_environment

if TYPE_CHECKING:
    # Not at run time: `serve` must not import prometheus_client before gunicorn's master has
    # set PROMETHEUS_MULTIPROC_DIR, or every worker would keep its metrics to itself.
    from sso_bridge.services import Services


class BridgeGroup(click.Group):
    """The command group: operator mistakes become one line, and summaries are never cut off.

    The one place that turns an infrastructure error (database missing, unreachable, wrong
    password, unknown URL scheme, Redis refused, bad TOML, permission denied; see
    sso_bridge.operator_errors) into ``sso-bridge: <what>: <why>. <fix>`` with exit status 2,
    for every command; ``sso-bridge --debug ...`` re-raises it with its traceback.
    """

    group_class = type  # subgroups (db, identity, ...) are BridgeGroups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            from sso_bridge.operator_errors import describe

            message = describe(exc)
            if message is None or ctx.find_root().params.get("debug"):
                raise
            click.echo(f"sso-bridge: {message}", err=True)
            ctx.exit(2)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click cuts each summary to the terminal width with "..."; wrap it instead.
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=BridgeGroup, context_settings={"show_default": True})
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.version_option(package_name="sso-bridge")
def main(debug: bool) -> None:
    """sso-bridge: sign shoppers in once, on the merchant's site and its Digital River store.

    Configuration comes from SSO_BRIDGE_* environment variables and the optional TOML file named
    by SSO_BRIDGE_CONFIG (see the README).
    """


def _configured_app() -> Flask:
    """The configured services, for an admin command: the schema must be current, as for
    serving, but RUM credentials need not be set (DR never calls a command). Errors (settings,
    schema, databases) become one line in BridgeGroup.invoke."""
    from sso_bridge.services import EXTENSION, build_services
    from sso_bridge.startup import require_schema

    found = build_services(load_settings())
    require_schema(found.identities.engine)
    app = Flask("sso_bridge")
    app.extensions[EXTENSION] = found
    return app


def _fail(message: str) -> None:
    click.echo(f"sso-bridge: {message}", err=True)
    sys.exit(2)


@main.command()
@click.option(
    "--bind",
    default=None,
    show_default="SSO_BRIDGE_BIND, else 127.0.0.1:8080",
    help="HOST:PORT to listen on.",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    show_default="SSO_BRIDGE_WORKERS, else 2",
    help="gunicorn worker processes.",
)
def serve(bind: str | None, workers: int | None) -> None:
    """Run the production server (gunicorn)."""
    from sso_bridge.gunicorn_app import BridgeServer
    from sso_bridge.gunicorn_hooks import prepare_metrics_directory
    from sso_bridge.startup import check_startup

    # First, before anything imports prometheus_client: workers aggregate through this directory.
    prepare_metrics_directory()
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        check_startup(settings, engine)
    finally:
        engine.dispose()
    if not settings.api_keys:
        click.echo(
            "sso-bridge: warning: no /v1 API keys: every /v1/tokens and /v1/sessions call will "
            "be refused (401). Set SSO_BRIDGE_API_KEYS to the merchant backend's keys",
            err=True,
        )
    options = {
        "bind": bind or settings.bind,
        "workers": workers or settings.workers,
        "forwarded_allow_ips": ",".join(settings.forwarded_allow_ips),
    }
    BridgeServer(lambda: create_app(settings), options).run()


@main.command(short_help="Exit 0 if the bridge at SSO_BRIDGE_BIND answers /healthz.")
@click.option("--timeout", type=float, default=2.0, help="Seconds to wait for the answer.")
def healthcheck(timeout: float) -> None:
    """Exit 0 if the bridge listening on SSO_BRIDGE_BIND answers /healthz, 1 if not.

    For container health checks: it follows the configured bind (0.0.0.0 and :: are asked on
    the loopback address), so changing the port never breaks the check.
    """
    from sso_bridge.healthcheck import check

    ok, detail = check(os.environ.get("SSO_BRIDGE_BIND", "127.0.0.1:8080"), timeout)
    click.echo(detail, err=not ok)
    sys.exit(0 if ok else 1)


@main.command(short_help="Check configuration, databases, directory, Redis and DR.")
@click.option("--canary", metavar="LOGIN", default=None, help="A login the directory must find.")
def doctor(canary: str | None) -> None:
    """Check configuration, databases, user directory, Redis and DR (with a test mint)."""
    from sso_bridge.doctor import run_doctor

    sys.exit(run_doctor(click.echo, canary=canary))


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {name: {value, source}}.")
def show_config(as_json: bool) -> None:
    """Show the effective configuration: each value and its source, secrets masked."""
    from sso_bridge.settings_view import effective_settings, render, render_json

    # A bad configuration is named by the one operator-error handler (sso_bridge.operator_errors).
    raw = raw_from_environment()
    entries = effective_settings(load_settings(raw), raw)
    click.echo(render_json(entries) if as_json else render(entries))


@main.group()
def db() -> None:
    """The bridge's own database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the bridge's own schema (identity map)."""
    url = own_database_url()
    try:
        before, after = upgrade(make_engine(url))
    except SchemaProblem as exc:
        _fail(f"upgrade stopped: {exc}")
        return
    click.echo(f"schema at version {after}" + ("" if before == after else f" (was {before})"))


@main.group()
def identity() -> None:
    """Inspect and manage users' externalReferenceIds."""


@identity.command("show")
@click.argument("user")
def identity_show(user: str) -> None:
    """Show the ERID of USER (a user key, a login, or an ERID)."""
    from sso_bridge.services import services

    with _configured_app().app_context():
        _show(services(), user)


def _show(found: Services, user: str) -> None:
    user_key = found.identities.find_user_key(user)
    if user_key is not None:
        click.echo(f"userKey={user_key} externalReferenceId={user}")
        return
    erid = found.identities.find_erid(user)
    if erid is None:
        # A user key that has no ERID yet, else a login.
        match = found.directory.find_by_key(user) or found.directory.find_by_login(user)
        if match is None:
            _fail(f"no user {user!r}")
            return
        user, erid = match.key, found.identities.find_erid(match.key)
    if erid is None:
        click.echo(f"userKey={user} has no externalReferenceId yet (assigned at first sign-in)")
    else:
        click.echo(f"userKey={user} externalReferenceId={erid}")


@identity.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would be done; write nothing.")
def identity_import(csv_file: Path, dry_run: bool) -> None:
    """Import existing (userKey, externalReferenceId) pairs from a CSV file with those headers.

    Each key is looked up in the user directory and stored as the directory has it (007 is
    user 7 for an integer key column). All or nothing: a key no user has, an email given as a
    key, a pair that would give a user a second ERID or an ERID a second user (also ignoring
    letter case), or an ERID with whitespace or invisible characters refuses the whole file,
    every problem listed, nothing written.
    """
    from sso_bridge.services import build_directory

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
    except SchemaProblem as exc:
        _fail(str(exc))
    lines, pairs = _read_pairs(csv_file)
    directory = build_directory(settings)

    def canonical_key(key: str) -> str | None:
        user = directory.find_by_key(key)
        return None if user is None else user.key

    try:
        report = IdentityMap(engine=engine).import_pairs(
            pairs, canonical_key=canonical_key, dry_run=dry_run
        )
    except ImportRefused as exc:
        _print_items(exc.report, lines, err=True)
        _fail(
            f"import refused, nothing written: {exc.report.refused} of {len(exc.report.items)} "
            "pair(s) refused"
        )
        return
    except IdentityConflict as exc:
        _fail(f"import refused, nothing written: {exc}")
        return
    except DirectoryUnavailable:
        _fail("import refused, nothing written: the user directory did not answer")
        return
    if dry_run:
        _print_items(report, lines, err=False)
        click.echo(
            f"dry run: {report.added} to add, {report.already_present} already present, "
            f"{report.refused} refused; nothing written"
        )
        if report.refused:
            sys.exit(1)
        return
    click.echo(f"imported {report.added} pair(s); {report.already_present} already present")


def _read_pairs(csv_file: Path) -> tuple[list[int], list[tuple[str, str]]]:
    """The file's pairs as written (no stripping: stray whitespace is refused, not guessed
    away) and the line each came from. utf-8-sig: spreadsheets start CSV files with a BOM."""
    with csv_file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or {"userKey", "externalReferenceId"} - set(reader.fieldnames):
            _fail("the CSV needs the headers userKey,externalReferenceId")
        lines: list[int] = []
        pairs: list[tuple[str, str]] = []
        for row in reader:
            # A short row leaves a field None: keep it as "" so the import refuses it by name.
            pairs.append((row["userKey"] or "", row["externalReferenceId"] or ""))
            lines.append(reader.line_num)
    return lines, pairs


def _print_items(report: ImportReport, lines: list[int], *, err: bool) -> None:
    for item in report.items:
        key = item.user_key if item.user_key is not None else item.given_key
        given = "" if key == item.given_key else f" (given as {item.given_key!r})"
        reason = f": {item.reason}" if item.reason else ""
        click.echo(
            f"line {lines[item.position - 1]}: {item.outcome:<8} userKey={key}{given} "
            f"externalReferenceId={item.erid}{reason}",
            err=err,
        )


@main.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="HOST:PORT, bridge.")
@click.option(
    "--simulator-bind",
    default="127.0.0.1:8081",
    show_default=True,
    help="HOST:PORT for the DR simulator and its store pages.",
)
@click.option(
    "--merchant-bind",
    default="127.0.0.1:8082",
    show_default=True,
    help="HOST:PORT for the demo merchant site.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="a temporary directory",
    help="Where the demo keeps its SQLite files.",
)
def demo(bind: str, simulator_bind: str, merchant_bind: str, data_dir: Path | None) -> None:
    """Run everything on embedded defaults and print what to try."""
    from sso_bridge.demo import run_demo

    run_demo(
        bind=bind, data_dir=data_dir, simulator_bind=simulator_bind, merchant_bind=merchant_bind
    )


@main.command("simulate-dr", short_help="Run the Digital River Commerce API simulator (for tests).")
@click.option("--bind", default="127.0.0.1:8081", show_default=True, help="HOST:PORT.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML file with SimulatorConfig fields (api_key, api_secret, token_lifetime, "
    "quirks, purchase_plans, rate_limit).",
)
@click.option("--api-key", default=None, help="API key DR callers must present.")
@click.option("--api-secret", default=None, help="Its secret.")
@click.option("--token-lifetime", type=int, default=None, help="Seconds a minted token lives.")
def simulate_dr(
    bind: str,
    config_file: Path | None,
    api_key: str | None,
    api_secret: str | None,
    token_lifetime: int | None,
) -> None:
    """Run the Digital River Commerce API simulator (tokens, shoppers, private stores).

    Fault injection: POST /_sim/faults; counters: GET /_sim/stats; reset: POST /_sim/reset.
    For tests only: never expose it beyond a test network.
    """
    import tomllib

    from sso_bridge.simulator import SimulatorConfig
    from sso_bridge.simulator.server import serve_simulator

    data: dict[str, object] = {}
    if config_file is not None:
        with config_file.open("rb") as handle:
            data = tomllib.load(handle)
    overrides = {"api_key": api_key, "api_secret": api_secret, "token_lifetime": token_lifetime}
    data.update({key: value for key, value in overrides.items() if value is not None})
    try:
        config = SimulatorConfig.from_dict(data)
    except ValueError as exc:
        _fail(f"simulator configuration: {exc}")
        return
    click.echo(f"DR simulator on http://{bind} (api key {config.api_key!r})")
    serve_simulator(bind, config)


def _add_probe() -> None:
    from sso_bridge.probe import probe

    main.add_command(probe)


_add_probe()
