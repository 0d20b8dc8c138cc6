"""The simulated DR store: the pages a shopper sees, and DR's RUM call-outs behind them.

As DR does (``shared/spec/rum.md``):
- sign-in form -> ``LoginRequest``; then ``GetUserProfileRequest`` by the ERID it answered;
- entry with the merchant's session token (``/store/sso?token=...``, DR's "URL parameter"
  hand-off) -> ``ValidateSessionRequest`` with the token as an extended attribute; then the profile;
- registration at checkout -> ``CreateUserProfileRequest``; then the profile;
- sign-out is a plain link: the store forgets the shopper and sends the browser to the merchant's
  logout with a return address, so the shopper ends signed out on both sides.
The store keeps its own shopper session in a signed cookie (ERID, email and name only: no token of
any kind reaches the page). A transport failure of a call-out is shown as DR shows it: try again.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from sso_bridge.rum.caller import RumAnswer, RumCaller, RumUnreachable

from .config import StorefrontConfig
from .html import page

blueprint = Blueprint("storefront", __name__, url_prefix="/store")

EXTENSION = "dr_storefront"
COOKIE_NAME = "dr_store_session"  # the merchant site on the same host uses another name
_SITE, _COLOUR = "DR store (simulated)", "#0a6"
TRY_AGAIN = "The sign-in service is not available right now. Please try again."

_HOME = """
{% if email %}<p class="who">Signed in as {{ email }}</p>
<p>{{ name }}</p>
<p><a href="{{ url_for('storefront.sign_out') }}">Sign out</a></p>
{% else %}<p class="who">Not signed in</p>
<p><a href="{{ url_for('storefront.sign_in') }}">Sign in</a></p>
<p><a href="{{ url_for('storefront.checkout') }}">Checkout as a new customer (register)</a></p>
{% endif %}
"""

_SIGN_IN = """
<form method="post" action="{{ url_for('storefront.sign_in') }}">
 <label>Email <input name="login" autocomplete="username" required></label>
 <label>Password <input name="password" type="password" autocomplete="current-password"
  required></label>
 <button type="submit">Sign in</button>
</form>
<p><a href="{{ url_for('storefront.home') }}">Store home</a></p>
"""

_CHECKOUT = """
<p>Create your account to complete the order.</p>
<form method="post" action="{{ url_for('storefront.checkout') }}">
 <label>Email <input name="email" type="email" required></label>
 <label>Password <input name="password" type="password" autocomplete="new-password"
  required></label>
 <label>First name <input name="firstName"></label>
 <label>Last name <input name="lastName"></label>
 <button type="submit">Register and continue</button>
</form>
<p><a href="{{ url_for('storefront.home') }}">Store home</a></p>
"""


def _caller() -> RumCaller:
    caller: RumCaller = current_app.extensions[EXTENSION]
    return caller


def _config() -> StorefrontConfig:
    config: StorefrontConfig = current_app.extensions[EXTENSION + ".config"]
    return config


def _render(title: str, body: str, message: str | None = None, status: int = 200) -> Response:
    html = page(
        _SITE,
        _COLOUR,
        title,
        body,
        message=message,
        email=session.get("email"),
        name=" ".join(p for p in (session.get("first_name"), session.get("last_name")) if p),
    )
    return Response(html, status=status, mimetype="text/html")


def _sign_in_with(answer: RumAnswer) -> str | None:
    """After a successful call-out: fetch the profile by ERID, as DR does, and keep the shopper.
    Returns the message to show when that fails."""
    erid = answer.external_reference_id
    if not erid:
        return TRY_AGAIN
    profile = _caller().profile(erid=erid)
    if not profile.successful:
        return profile.error_message or TRY_AGAIN
    session.clear()
    session.update(
        erid=erid,
        email=profile.email or answer.login_id,
        first_name=profile.first_name,
        last_name=profile.last_name,
    )
    return None


def _call(work: Callable[[], RumAnswer]) -> RumAnswer | None:
    try:
        return work()
    except RumUnreachable:
        return None


@blueprint.get("/")
def home() -> Response:
    return _render("Home", _HOME)


@blueprint.route("/login", methods=["GET", "POST"])
def sign_in() -> BaseResponse:
    if request.method == "GET":
        return _render("Sign in", _SIGN_IN)
    login = request.form.get("login", "")
    password = request.form.get("password", "")
    answer = _call(lambda: _caller().login(login, password))
    if answer is None or answer.status != 200:
        return _render("Sign in", _SIGN_IN, TRY_AGAIN, status=503)
    if not answer.successful:
        return _render("Sign in", _SIGN_IN, answer.error_message or "Invalid login", status=401)
    problem = _sign_in_with(answer)
    if problem:
        return _render("Sign in", _SIGN_IN, problem, status=401)
    return redirect(url_for("storefront.home"), code=303)


@blueprint.get("/sso")
def sso_entry() -> BaseResponse:
    """The shopper arrives from the merchant's site with its session token."""
    token = request.args.get("token", "")
    if token:
        answer = _call(lambda: _caller().session(token))
        if answer is not None and answer.successful:
            _sign_in_with(answer)
    # Whatever happened, the token leaves the address bar: the store home shows the outcome.
    return redirect(url_for("storefront.home"), code=303)


@blueprint.route("/checkout", methods=["GET", "POST"])
def checkout() -> BaseResponse:
    if request.method == "GET":
        return _render("Checkout", _CHECKOUT)
    form = request.form
    answer = _call(
        lambda: _caller().create(
            email=form.get("email", ""),
            password=form.get("password", ""),
            first_name=form.get("firstName") or None,
            last_name=form.get("lastName") or None,
        )
    )
    if answer is None or answer.status != 200:
        return _render("Checkout", _CHECKOUT, TRY_AGAIN, status=503)
    if not answer.successful:
        return _render("Checkout", _CHECKOUT, answer.error_message, status=409)
    problem = _sign_in_with(answer)
    if problem:
        return _render("Checkout", _CHECKOUT, problem, status=409)
    return redirect(url_for("storefront.home"), code=303)


@blueprint.get("/logout")
def sign_out() -> BaseResponse:
    session.clear()
    home_url = url_for("storefront.home", _external=True)
    logout = _config().merchant_logout_url
    target = f"{logout}?{urlencode({'return_to': home_url})}" if logout else home_url
    return redirect(target, code=303)
