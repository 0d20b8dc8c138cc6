"""``sso-bridge probe``: DR's four RUM calls against any bridge, as DR sends them.

A merchant checks a deployment the way Digital River will call it, before DR does: the XML sent
(the shopper's password shown as ``********``), the parsed answer, and how long it took. The exit
status is 0 for a successful answer, 1 for a business failure (``successful=false``), 2 when the
bridge could not be reached or answered with an HTTP error (401 wrong credentials, 503 ...).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass

import click

from sso_bridge.rum import caller
from sso_bridge.rum.caller import RumAnswer, RumCaller, RumUnreachable

_PASSWORD_ELEMENT = re.compile(rb"(<password[^>]*>)[^<]*(</password>)")


@dataclass(frozen=True)
class _Probe:
    caller: RumCaller | None
    show_xml: bool


def _rum_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/rum") else url + "/rum"


@click.group()
@click.option(
    "--url",
    envvar="SSO_BRIDGE_PROBE_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The bridge's base URL (or its /rum URL). Env: SSO_BRIDGE_PROBE_URL.",
)
@click.option(
    "--user",
    envvar="SSO_BRIDGE_PROBE_USER",
    default=None,
    help="DR's HTTP Basic user name (a RUM_USERS key). Env: SSO_BRIDGE_PROBE_USER.",
)
@click.option(
    "--password",
    envvar="SSO_BRIDGE_PROBE_PASSWORD",
    default=None,
    help="Its password. Env: SSO_BRIDGE_PROBE_PASSWORD (safer than the command line).",
)
@click.option("--xml/--no-xml", "show_xml", default=True, show_default=True, help="Print XML.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds.")
@click.pass_context
def probe(
    context: click.Context,
    url: str,
    user: str | None,
    password: str | None,
    show_xml: bool,
    timeout: float,
) -> None:
    """Send DR's RUM calls (login, profile, session, create) to a bridge and show the answers."""
    caller = None
    if user and password:  # checked when a call is made, so `probe login --help` works bare
        caller = RumCaller(url=_rum_url(url), username=user, password=password, timeout=timeout)
    context.obj = _Probe(caller, show_xml)


def _run(context: click.Context, document: bytes) -> None:
    probe_: _Probe = context.obj
    if probe_.caller is None:
        raise click.UsageError(
            "DR's Basic credentials are needed: --user and --password "
            "(or SSO_BRIDGE_PROBE_USER and SSO_BRIDGE_PROBE_PASSWORD)"
        )
    if probe_.show_xml:
        click.echo("--- sent")
        click.echo(_PASSWORD_ELEMENT.sub(rb"\1********\2", document).decode())
    try:
        answer = probe_.caller.send(document)
    except RumUnreachable as exc:
        click.echo(f"sso-bridge probe: no answer: {exc}. Check --url and that the bridge runs.")
        sys.exit(2)
    if probe_.show_xml:
        click.echo(f"--- received (HTTP {answer.status})")
        click.echo(answer.body.decode("utf-8", "replace"))
    click.echo("--- answer")
    for line in describe(answer):
        click.echo(line)
    sys.exit(0 if answer.successful else 1 if answer.status == 200 else 2)


def describe(answer: RumAnswer) -> list[str]:
    lines = [f"HTTP {answer.status} in {answer.elapsed_ms:.1f} ms"]
    if answer.status != 200:
        return [*lines, f"transport error: {_dr_error(answer.body)} (DR would show 'please retry')"]
    lines.append(f"{answer.operation}: {'successful' if answer.successful else 'not successful'}")
    fields = {
        "errorCode": answer.error_code,
        "errorMessage": answer.error_message,
        "externalReferenceID": answer.external_reference_id,
        "loginID": answer.login_id,
        "email": answer.email,
        "firstName": answer.first_name,
        "lastName": answer.last_name,
    }
    lines += [f"  {name}: {value}" for name, value in fields.items() if value]
    return lines


def _dr_error(body: bytes) -> str:
    """``code: description`` of DR's error format, or the start of whatever came back."""
    try:
        error = json.loads(body)["errors"]["error"][0]
        return f"{error['code']}: {error['description']}"
    except (ValueError, KeyError, IndexError, TypeError):
        return body[:200].decode("utf-8", "replace") or "(empty body)"


_SHOPPER_PASSWORD = click.option(
    "--shopper-password",
    default=None,
    prompt="Shopper's password",
    hide_input=True,
    help="The shopper's password (prompted for when not given).",
)


@probe.command()
@click.argument("login")
@_SHOPPER_PASSWORD
@click.pass_context
def login(context: click.Context, login: str, shopper_password: str) -> None:
    """LoginRequest: sign LOGIN in with a password."""
    _run(context, caller.login_request(login, shopper_password))


@probe.command()
@click.option("--erid", default=None, help="Look the user up by externalReferenceID.")
@click.option("--login", "login_id", default=None, help="... or by loginID.")
@click.pass_context
def profile(context: click.Context, erid: str | None, login_id: str | None) -> None:
    """GetUserProfileRequest: fetch a profile by ERID or login."""
    if (erid is None) == (login_id is None):
        raise click.UsageError("give exactly one of --erid and --login")
    _run(context, caller.profile_request(erid=erid, login=login_id))


@probe.command()
@click.argument("token")
@click.pass_context
def session(context: click.Context, token: str) -> None:
    """ValidateSessionRequest: check an SSO session token."""
    _run(context, caller.session_request(token))


@probe.command()
@click.argument("email")
@_SHOPPER_PASSWORD
@click.option("--first-name", default=None)
@click.option("--last-name", default=None)
@click.pass_context
def create(
    context: click.Context,
    email: str,
    shopper_password: str,
    first_name: str | None,
    last_name: str | None,
) -> None:
    """CreateUserProfileRequest: register EMAIL as DR does at checkout."""
    _run(
        context,
        caller.create_request(
            email=email, password=shopper_password, first_name=first_name, last_name=last_name
        ),
    )
