"""The dashboard's door: ``GET /api/dashboard/open`` (function key, checked by the host) starts a signed
session cookie (``factory.session``) and sends the browser on without the key; every other dashboard page
takes that cookie only. A page asked with ``?code=`` and no session is sent through the door first, so an old
bookmark still works and the key leaves the address bar."""

from __future__ import annotations

import urllib.parse

import azure.durable_functions as df
import azure.functions as func

from factory import lookups, session
from function_app import pages

bp = df.Blueprint()


def _next_path(req: func.HttpRequest) -> str:
    """Where to go after the door: a dashboard path only (no open redirect), with the query minus the key."""
    wanted = req.params.get("next", "") or session.PATH
    parts = urllib.parse.urlsplit(wanted)
    if parts.scheme or parts.netloc or not (parts.path == session.PATH or parts.path.startswith(session.PATH + "/")):
        return session.PATH
    query = urllib.parse.urlencode([(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "code"])
    return parts.path + (f"?{query}" if query else "")


@bp.route(route="dashboard/open", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def open_dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/dashboard/open?code=<key>[&next=<dashboard path>]``: the session cookie, then a 303 on."""
    token = session.new_token(lookups.approval_keys()[0])
    secure = urllib.parse.urlsplit(req.url).scheme == "https"
    return func.HttpResponse(status_code=303, headers={
        "Location": _next_path(req), "Set-Cookie": session.cookie_header(token, secure),
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@bp.route(route="dashboard/enter", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def enter_dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/dashboard/enter?t=<session token>[&next=]``: a session token made by the key's holder (the CLI
    signs one with the stack's key, so the URL it prints carries no host key) becomes the cookie; 401 else."""
    token = req.params.get("t", "")
    if not session.valid(token, lookups.approval_keys()):
        return pages.message(401, "Link expired", "this dashboard link is not valid any more; "
                             "`model-factory dashboard` prints a new one")
    secure = urllib.parse.urlsplit(req.url).scheme == "https"
    return func.HttpResponse(status_code=303, headers={
        "Location": _next_path(req), "Set-Cookie": session.cookie_header(token, secure, session.seconds_left(token)),
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def refused(req: func.HttpRequest) -> func.HttpResponse | None:
    """None when the request holds a valid session; else where to send it: through the door when it brought a
    key, or a 401 page saying how to open the dashboard."""
    if session.valid(session.cookie_value(req.headers.get("cookie")), lookups.approval_keys()):
        return None
    if req.params.get("code"):
        path = urllib.parse.urlsplit(req.url)
        query = urllib.parse.urlencode([(k, v) for k, v in req.params.items() if k != "code"])
        target = path.path + (f"?{query}" if query else "")
        door = f"{session.PATH}/open?" + urllib.parse.urlencode({"code": req.params["code"], "next": target})
        return func.HttpResponse(status_code=303, headers={"Location": door, "Cache-Control": "no-store",
                                                           "Referrer-Policy": "no-referrer"})
    return pages.message(401, "Sign in to the dashboard",
                         f"open {session.PATH}/open?code=<function key> once (model-factory up prints the link); "
                         f"the session lasts {session.LIFETIME_S // 60} minutes")
