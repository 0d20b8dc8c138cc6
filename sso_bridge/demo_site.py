"""The demo's merchant web site: the merchant's own sign-in, and the SSO hand-off to the DR store.

What a merchant's login system does with the bridge (``shared/spec/product.md``, flow 3):
- its sign-in page checks the password against its own user table (here the demo's SQLite table,
  with the same hash formats the bridge verifies), then opens an SSO session for the user through
  ``POST /v1/sessions`` and keeps the token in its own session cookie;
- its signed-in page links to the DR store, handing the token over (``/store/sso?token=...``);
- its logout ends the SSO session (``DELETE /v1/sessions/<token>``) and returns the browser to
  the address it was given only if that address's origin is allow-listed (no open redirect);
  anything else goes to the site's home.
A real merchant site does the same from its own framework; nothing here is for production.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import requests
from flask import Blueprint, Flask, Response, current_app, redirect, request, session, url_for
from sqlalchemy import Engine, column, func, select, table
from werkzeug.wrappers import Response as BaseResponse

from sso_bridge.directory.base import is_truthy
from sso_bridge.directory.passwords import PasswordHasher
from sso_bridge.simulator.html import page

EXTENSION = "demo_merchant_site"
COOKIE_NAME = "merchant_session"  # the DR store on the same host uses another name
INVALID = "Wrong email or password."
_SITE, _COLOUR = "Merchant site (demo)", "#25c"

_USERS = table("users", column("id"), column("email"), column("password"), column("active"))

_HOME = """
{% if email %}<p class="who">Signed in as {{ email }}</p>
<p><a href="{{ store_link }}">Continue to the DR store</a></p>
<p><a href="{{ url_for('merchant.logout') }}">Sign out</a></p>
{% else %}<p class="who">Not signed in</p>
<form method="post" action="{{ url_for('merchant.login') }}">
 <label>Email <input name="login" autocomplete="username" required></label>
 <label>Password <input name="password" type="password" autocomplete="current-password"
  required></label>
 <button type="submit">Sign in</button>
</form>
{% endif %}
"""


@dataclass(frozen=True)
class MerchantSiteConfig:
    users: Engine  # the merchant's own user table (the demo's SQLite database)
    bridge_url: str  # where /v1 is
    api_key: str = field(repr=False)
    store_url: str  # the DR store's home, e.g. http://127.0.0.1:8081/store/
    #: Origins (scheme://host:port) that logout may send the browser back to.
    return_origins: Iterable[str] = ()
    secret_key: str = field(default="", repr=False)


blueprint = Blueprint("merchant", __name__)


def _config() -> MerchantSiteConfig:
    config: MerchantSiteConfig = current_app.extensions[EXTENSION]
    return config


def _http() -> requests.Session:
    http: requests.Session = current_app.extensions[EXTENSION + ".http"]
    return http


def _render(message: str | None = None, status: int = 200) -> Response:
    config = _config()
    token = session.get("sso_token")
    store_link = config.store_url.rstrip("/") + "/sso?token=" + quote(token or "", safe="")
    html = page(
        _SITE,
        _COLOUR,
        "Home",
        _HOME,
        message=message,
        email=session.get("email"),
        store_link=store_link,
    )
    return Response(html, status=status, mimetype="text/html")


def _check_password(login: str, password: str) -> str | None:
    """The user's key if ``password`` is theirs and the account is active (the merchant's own
    login code: the bridge is not involved in signing in on the merchant's site)."""
    query = select(_USERS.c.id, _USERS.c.password, _USERS.c.active).where(
        func.lower(_USERS.c.email) == login.strip().lower()
    )
    with _config().users.connect() as connection:
        row = connection.execute(query).first()
    hasher: PasswordHasher = current_app.extensions[EXTENSION + ".hasher"]
    if row is None:
        hasher.verify(password, current_app.extensions[EXTENSION + ".dummy"])  # same cost
        return None
    if not hasher.verify(password, str(row.password)) or not is_truthy(row.active):
        return None
    return str(row.id)


def _bridge(method: str, path: str, **kwargs: object) -> requests.Response:
    config = _config()
    return _http().request(
        method,
        config.bridge_url.rstrip("/") + path,
        headers={"Authorization": f"Bearer {config.api_key}"},
        timeout=10,
        **kwargs,  # type: ignore[arg-type]
    )


@blueprint.get("/")
def home() -> Response:
    return _render()


@blueprint.post("/login")
def login() -> BaseResponse:
    email = request.form.get("login", "")
    user_key = _check_password(email, request.form.get("password", ""))
    if user_key is None:
        return _render(INVALID, status=401)
    opened = _bridge("POST", "/v1/sessions", json={"userKey": user_key})
    if opened.status_code != 201:
        return _render("Single sign-on is not available right now.", status=503)
    session.clear()
    session.update(email=email.strip(), sso_token=opened.json()["token"])
    return redirect(url_for("merchant.home"), code=303)


@blueprint.get("/logout")
def logout() -> BaseResponse:
    token = session.pop("sso_token", None)
    session.clear()
    if token:
        _bridge("DELETE", "/v1/sessions/" + quote(token, safe=""))
    return redirect(safe_return(request.args.get("return_to"), _config().return_origins), code=303)


def safe_return(target: str | None, origins: Iterable[str]) -> str:
    """``target`` if it is an absolute http(s) URL on an allow-listed origin, else ``/``.

    Compared as parsed origins, never as string prefixes (``https://store.example.com.evil``),
    and refusing user info, backslashes and control characters that browsers read differently.
    """
    if not target or any(ch in target for ch in "\\\r\n\t") or len(target) > 2048:
        return "/"
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:
        return "/"
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return "/"
    origin = f"{parts.scheme}://{parts.hostname}:{port or (443 if parts.scheme == 'https' else 80)}"
    allowed = set()
    for entry in origins:
        entry_parts = urlsplit(entry)
        default = 443 if entry_parts.scheme == "https" else 80
        allowed.add(f"{entry_parts.scheme}://{entry_parts.hostname}:{entry_parts.port or default}")
    return target if origin in allowed else "/"


def create_merchant_site(config: MerchantSiteConfig) -> Flask:
    from sso_bridge.outbound import pooled_session

    app = Flask(__name__)
    app.secret_key = config.secret_key or secrets.token_hex(32)
    app.config["SESSION_COOKIE_NAME"] = COOKIE_NAME
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.extensions[EXTENSION] = config
    app.extensions[EXTENSION + ".http"] = pooled_session(pool_connections=1, pool_maxsize=8)
    hasher = PasswordHasher(new_scheme="argon2")
    app.extensions[EXTENSION + ".hasher"] = hasher
    app.extensions[EXTENSION + ".dummy"] = hasher.hash_password(secrets.token_urlsafe(16))
    app.register_blueprint(blueprint)
    return app
