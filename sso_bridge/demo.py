"""``sso-bridge demo``: the whole bridge on embedded defaults, with sample users to sign in.

A SQLite merchant database seeded with users whose passwords are stored in different formats (as
a real legacy table would), a SQLite identity map, an in-process cache, and the DR simulator.
Nothing here is for production: the credentials are printed on purpose.
"""

from __future__ import annotations

import re
import shlex
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from passlib.hash import argon2, bcrypt, django_pbkdf2_sha256, phpass, sha512_crypt
from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, String, Table

from sso_bridge.db import make_engine
from sso_bridge.rum.samples import dr_login_request
from sso_bridge.schema import upgrade
from sso_bridge.startup import StartupRefused

RUM_USER, RUM_PASSWORD = "dr-demo", "demo-rum-password"
API_KEY = "demo-api-key"


@dataclass(frozen=True)
class DemoUser:
    email: str
    password: str
    scheme: str
    first_name: str
    last_name: str
    active: bool = True


USERS = [
    DemoUser("demo@example.com", "123123", "argon2id", "Dana", "Demo"),
    DemoUser("bcrypt@example.com", "bcrypt-secret", "bcrypt", "Bea", "Crypt"),
    DemoUser("django@example.com", "django-secret", "Django PBKDF2", "Jean", "Django"),
    DemoUser("wp@example.com", "wordpress-secret", "phpass (WordPress)", "Wanda", "Press"),
    DemoUser("linux@example.com", "crypt-secret", "crypt(3) sha512", "Lin", "Ux"),
    DemoUser("jose.nunez@example.com", "contraseña", "argon2id", "José", "Núñez"),
    DemoUser("student@university.edu", "student-secret", "argon2id", "Stu", "Dent"),
    DemoUser("locked@example.com", "locked-secret", "bcrypt", "Lock", "Ed", active=False),
]

_HASHERS: dict[str, Any] = {
    "argon2id": argon2.using(type="ID"),
    "bcrypt": bcrypt.using(rounds=10),
    "Django PBKDF2": django_pbkdf2_sha256,
    "phpass (WordPress)": phpass,
    "crypt(3) sha512": sha512_crypt,
}


def seed_merchant_database(engine: Engine) -> None:
    metadata = MetaData()
    users = Table(
        "users",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(320), nullable=False, unique=True),
        Column("password", String(255), nullable=False),
        Column("first_name", String(100)),
        Column("last_name", String(100)),
        Column("active", Boolean, nullable=False, default=True),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        if connection.execute(users.select().limit(1)).first() is not None:
            return
        for user in USERS:
            connection.execute(
                users.insert().values(
                    email=user.email,
                    password=_HASHERS[user.scheme].hash(user.password),
                    first_name=user.first_name,
                    last_name=user.last_name,
                    active=user.active,
                )
            )


def demo_config(data_dir: Path, simulator_url: str | None = None) -> dict[str, Any]:
    dr: dict[str, Any] = {}
    if simulator_url:
        dr = {
            "DR_BASE_URL": simulator_url,
            "DR_API_KEY": "sim-api-key",
            "DR_API_SECRET": "sim-api-secret",
            "DR_CALLS_PER_SECOND": 100,
            "PRIVATE_STORES": [{"emailDomain": "university.edu", "search": True}],
        }
    return {
        **dr,
        "DATABASE_URL": f"sqlite:///{data_dir / 'bridge.sqlite3'}",
        "DIRECTORY": {
            "URL": f"sqlite:///{data_dir / 'merchant.sqlite3'}",
            "TABLE": "users",
            "KEY_COLUMN": "id",
            "LOGIN_COLUMNS": ["email"],
        },
        "RUM_USERS": {RUM_USER: RUM_PASSWORD},
        "MODE": "demo",
        "API_KEYS": [API_KEY],
        "SITE_ID": "demosite",
    }


def _one_line(xml: bytes) -> str:
    """DR's documented form on one line, so the printed curl command pastes cleanly."""
    return re.sub(r">\s+<", "><", " ".join(line.strip() for line in xml.decode().splitlines()))


def _curl_rum(base: str, xml: str) -> str:
    return (
        f"curl -s -u {RUM_USER}:{RUM_PASSWORD} -H 'Content-Type: text/xml' "
        f"{base}/rum -d {shlex.quote(xml)}"
    )


def instructions(base: str, simulator: str) -> str:
    rum_ns = "http://integration.digitalriver.com/RemoteUserManagement/1.0"
    profile = (
        f'<GetUserProfileRequest xmlns="{rum_ns}"><userKey>'
        "<loginID>demo@example.com</loginID></userKey></GetUserProfileRequest>"
    )
    create = (
        f'<CreateUserProfileRequest xmlns="{rum_ns}"><userInfo><userKey>'
        "<loginID>new@example.com</loginID></userKey><firstName>Nu</firstName>"
        "<lastName>User</lastName><email>new@example.com</email></userInfo>"
        "<password>new-secret</password></CreateUserProfileRequest>"
    )
    bearer = f"-H 'Authorization: Bearer {API_KEY}' -H 'Content-Type: application/json'"
    lines = [
        f"sso-bridge demo is running on {base}",
        "",
        "In a browser: sign in on the merchant site, follow its link to the DR store; sign in or",
        "register (checkout) on the store; sign out from the store signs you out of both.",
        "",
        "Sample users (login / password / stored hash format):",
        *(
            f"  {u.email:26} {u.password:18} {u.scheme}{'' if u.active else '  (inactive)'}"
            for u in USERS
        ),
        "",
        "1. DR signs a shopper in (LoginRequest):",
        "  " + _curl_rum(base, _one_line(dr_login_request("demo@example.com", "123123"))),
        "2. DR fetches the profile (GetUserProfileRequest):",
        "  " + _curl_rum(base, profile),
        "3. The merchant site opens an SSO session, DR validates it (ValidateSessionRequest):",
        f'  TOKEN=$(curl -s {bearer} {base}/v1/sessions -d \'{{"login": "demo@example.com"}}\''
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')",
        f"  curl -s -u {RUM_USER}:{RUM_PASSWORD} -H 'Content-Type: text/xml' {base}/rum -d "
        f"\"<ValidateSessionRequest xmlns='{rum_ns}'><sessionToken>$TOKEN</sessionToken>"
        '</ValidateSessionRequest>"',
        "4. A shopper registers during checkout (CreateUserProfileRequest):",
        "  " + _curl_rum(base, create),
        "5. The merchant backend gets a DR full-access token (minted once, then from cache):",
        f'  curl -s {bearer} {base}/v1/tokens -d \'{{"login": "demo@example.com"}}\'',
        "6. A student: the token is also authorized for the private store (purchase plan):",
        f'  curl -s {bearer} {base}/v1/tokens -d \'{{"login": "student@university.edu"}}\'',
        f"  curl -s {simulator}/_sim/stats     # the simulator's view: mints, shoppers, plans",
        "",
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


def prepare(data_dir: Path, simulator_url: str | None = None) -> dict[str, Any]:
    data_dir.mkdir(parents=True, exist_ok=True)
    config = demo_config(data_dir, simulator_url)
    seed_merchant_database(make_engine(config["DIRECTORY"]["URL"]))
    upgrade(make_engine(config["DATABASE_URL"]))
    return config


def require_free_port(host: str, port: int, option: str) -> None:
    """Refuse before the banner, so nobody copies commands for a demo that never started."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # SO_REUSEADDR as the server sets it: only a port someone listens on is refused.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartupRefused(
                "demo",
                f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                f"Choose another port with {option} {host}:<port>",
            ) from exc


def _url(bind: str) -> str:
    from sso_bridge.simulator.server import parse_bind

    host, port = parse_bind(bind)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def run_demo(*, bind: str, data_dir: Path | None, simulator_bind: str, merchant_bind: str) -> None:
    """The bridge, the DR simulator (with its storefront) and the demo merchant site, each on
    its own address, talking to each other over real HTTP."""
    import threading

    from werkzeug.serving import make_server, run_simple

    from sso_bridge import create_app
    from sso_bridge.demo_site import MerchantSiteConfig, create_merchant_site
    from sso_bridge.simulator import SimulatorConfig, StorefrontConfig
    from sso_bridge.simulator.server import QuietRequestHandler, SimulatorServer, parse_bind

    binds = {"--bind": bind, "--simulator-bind": simulator_bind, "--merchant-bind": merchant_bind}
    for option, value in binds.items():
        try:
            require_free_port(*parse_bind(value), option)
        except ValueError as exc:
            raise StartupRefused(
                "demo", f"{option} {value!r}: {exc}", "Use e.g. 127.0.0.1:8080"
            ) from exc
    directory = data_dir or Path(tempfile.mkdtemp(prefix="sso-bridge-demo-"))
    bridge_url, merchant_url = _url(bind), _url(merchant_bind)
    store_url = _url(simulator_bind) + "/store/"
    storefront = StorefrontConfig(
        rum_url=bridge_url + "/rum",
        rum_username=RUM_USER,
        rum_password=RUM_PASSWORD,
        merchant_logout_url=merchant_url + "/logout",
    )
    sim_host, sim_port = parse_bind(simulator_bind)
    with SimulatorServer(
        SimulatorConfig(storefront=storefront), host=sim_host, port=sim_port
    ) as simulator:
        config = prepare(directory, simulator.url)
        app = create_app(config)
        merchant = create_merchant_site(
            MerchantSiteConfig(
                users=make_engine(config["DIRECTORY"]["URL"]),
                bridge_url=bridge_url,
                api_key=API_KEY,
                store_url=store_url,
                return_origins=(simulator.url, merchant_url),
            )
        )
        merchant_host, merchant_port = parse_bind(merchant_bind)
        merchant_server = make_server(
            merchant_host,
            merchant_port,
            merchant,
            threaded=True,
            request_handler=QuietRequestHandler,
        )
        threading.Thread(target=merchant_server.serve_forever, daemon=True).start()
        click.echo(f"Merchant site: {merchant_url}/")
        click.echo(f"DR store: {store_url}")
        click.echo(instructions(bridge_url, simulator.url))
        host, port = parse_bind(bind)
        # One process, threads: the demo's in-process cache is only correct within one process.
        run_simple(
            host, port, app, threaded=True, use_reloader=False, request_handler=QuietRequestHandler
        )
