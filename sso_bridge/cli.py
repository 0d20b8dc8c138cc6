"""The ``sso-bridge`` command group."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask

from sso_bridge import create_app
from sso_bridge.db import make_engine
from sso_bridge.directory.base import DirectoryUnavailable
from sso_bridge.identity import IdentityConflict, IdentityMap, ImportRefused, ImportReport
from sso_bridge.schema import SchemaProblem, require_current, upgrade
from sso_bridge.settings import SettingsError, load_settings, raw_from_environment

if TYPE_CHECKING:
    # Not at run time: `serve` must not import prometheus_client before gunicorn's master has
    # set PROMETHEUS_MULTIPROC_DIR, or every worker would keep its metrics to itself.
    from sso_bridge.services import Services


@click.group()
@click.version_option(package_name="sso-bridge")
def main() -> None:
    """sso-bridge: sign shoppers in once, on the merchant's site and its Digital River store.

    Configuration comes from SSO_BRIDGE_* environment variables and the optional TOML file named
    by SSO_BRIDGE_CONFIG (see the README).
    """


def _configured_app() -> Flask:
    try:
        return create_app()
    except SettingsError as exc:
        _fail(str(exc))
        raise


def _fail(message: str) -> None:
    click.echo(f"sso-bridge: {message}", err=True)
    sys.exit(2)


@main.command()
@click.option("--bind", default=None, help="HOST:PORT to listen on (default 127.0.0.1:8080).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes.")
def serve(bind: str | None, workers: int | None) -> None:
    """Run the production server (gunicorn)."""
    from sso_bridge.gunicorn_app import BridgeServer
    from sso_bridge.gunicorn_hooks import prepare_metrics_directory

    # First, before anything imports prometheus_client: workers aggregate through this directory.
    prepare_metrics_directory()
    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(str(exc))
        return
    if not settings.rum_users:
        _fail('no RUM credentials: set SSO_BRIDGE_RUM_USERS, e.g. \'{"dr": "<password>"}\'')
    try:
        require_current(make_engine(settings.database_url))
    except SchemaProblem as exc:
        _fail(str(exc))
    BridgeServer(lambda: create_app(settings), {"bind": bind, "workers": workers}).run()


@main.command()
@click.option("--canary", metavar="LOGIN", default=None, help="A login the directory must find.")
def doctor(canary: str | None) -> None:
    """Check configuration, databases, user directory, Redis and DR (with a test mint)."""
    from sso_bridge.doctor import run_doctor

    sys.exit(run_doctor(click.echo, canary=canary))


@main.group()
def db() -> None:
    """The bridge's own database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the bridge's own schema (identity map)."""
    url = str(raw_from_environment().get("DATABASE_URL") or "sqlite:///sso-bridge.sqlite3")
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

    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(str(exc))
        return
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
@click.option("--bind", default="127.0.0.1:8080", help="HOST:PORT for the bridge.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the demo keeps its SQLite files (default: a temporary directory).",
)
def demo(bind: str, data_dir: Path | None) -> None:
    """Run everything on embedded defaults and print what to try."""
    from sso_bridge.demo import run_demo

    run_demo(bind=bind, data_dir=data_dir)


@main.command("simulate-dr")
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
