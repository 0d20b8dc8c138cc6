"""``POST /rum``: authenticate DR, parse safely, dispatch, answer in kind."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from sso_bridge import metrics
from sso_bridge.errors import (
    Forbidden,
    InvalidRequest,
    Unauthenticated,
    UnsupportedMediaType,
)
from sso_bridge.rum.messages import GetUserProfileResponse, RumResponse
from sso_bridge.rum.xml import RumXmlError, parse_document, render_document
from sso_bridge.services import services
from sso_bridge.web import read_body

log = logging.getLogger(__name__)

blueprint = Blueprint("rum", __name__)

_XML_TYPES = {"text/xml", "application/xml", "application/soap+xml"}


def _outcome(answer: RumResponse) -> str:
    if isinstance(answer, GetUserProfileResponse):
        return "success" if answer.user_info is not None else "failure"
    return "success" if answer.successful else "failure"


@blueprint.post("/rum")
def rum() -> Response:
    found = services()
    callers = found.callers
    address = callers.client_address(request.remote_addr, request.headers.get("X-Forwarded-For"))
    if not callers.address_allowed(address):
        raise Forbidden("This address may not call the RUM endpoint.")
    auth = request.authorization
    if (
        auth is None
        or auth.type != "basic"
        or not callers.credentials_ok(auth.username, auth.password)
    ):
        raise Unauthenticated("Valid HTTP Basic credentials are required.")
    if request.mimetype not in _XML_TYPES:
        raise UnsupportedMediaType("Send the RUM message as text/xml or application/xml.")
    body = read_body(request.environ, found.settings.max_body_bytes)
    try:
        document = parse_document(body)
    except RumXmlError as exc:
        raise InvalidRequest(exc.description) from exc
    answer = found.rum.handle(document.request)
    metrics.RUM_REQUESTS.labels(
        operation=type(document.request).__name__, outcome=_outcome(answer)
    ).inc()
    mimetype = "application/soap+xml" if document.soap == "1.2" else "text/xml"
    return Response(
        render_document(answer, namespace=document.namespace, soap=document.soap),
        status=200,
        content_type=f"{mimetype}; charset=utf-8",
    )
