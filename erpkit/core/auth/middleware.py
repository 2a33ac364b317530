"""Who is asking, in which language, and may they: the middleware and the guard.

The middleware resolves the user from a bearer token or the signed session
cookie, picks the language (user setting, then the language cookie, then
``Accept-Language``) and makes it current for the request. The global guard
refuses anonymous requests to every handler not marked ``opt={"public": True}``,
checks ``opt["permission"]`` and enforces CSRF on every unsafe method that a
browser could send with cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING

from litestar.connection import Request
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)

from erpkit.core import i18n
from erpkit.core.auth import cache as auth_cache
from erpkit.core.auth.service import REQUEST_AUTH_GENERATION

if TYPE_CHECKING:
    from erpkit.core.app import Erp

SESSION_COOKIE = "erpkit_session"
_SESSION_COOKIE_BYTES = SESSION_COOKIE.encode()
CSRF_COOKIE = "erpkit_csrf"
LANG_COOKIE = "erpkit_lang"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Served without looking anyone up: nothing there depends on the user.
_NO_AUTH_PREFIXES = ("/static/", "/healthz")


def _parse_cookies(raw: str) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is the client's problem, not a 500
        return {}
    return {k: v.value for k, v in jar.items()}


class AuthMiddleware:
    def __init__(self, app, erp: Erp) -> None:
        self.app = app
        self.erp = erp

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_NO_AUTH_PREFIXES):
            scope["user"] = None
            await self.app(scope, receive, send)
            return
        erp = self.erp
        # the auth counter is awaited here, not read inside resolve_scope: on PostgreSQL
        # a round trip there would hold the event loop
        gen = await auth_cache.generation(erp) if _signed_in(scope) else None
        try:
            # SQLite: a cache miss is a few in-process reads, cheaper than a thread hop
            set_csrf = resolve_scope(erp, scope, gen, database=erp.settings.is_sqlite)
        except auth_cache.NeedsDatabase:
            # PostgreSQL: a token or session not cached (or a token's use to record)
            # waits for the server in a thread, not on the event loop
            from erpkit.core.web import in_thread

            set_csrf = await in_thread(erp, resolve_scope, erp, scope, gen)

        async def send_wrapper(message) -> None:
            if set_csrf and message["type"] == "http.response.start":
                cookie = f"{CSRF_COOKIE}={set_csrf}; Path=/; HttpOnly; SameSite=Lax"
                if erp.settings.cookie_secure:
                    cookie += "; Secure"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        token = i18n.activate(scope["erp_locale"], erp.catalogs)
        # the counter this request's user was checked against: names of users are kept
        # under it too (erpkit.core.auth.service.user_labels)
        gen_token = REQUEST_AUTH_GENERATION.set(gen)
        try:
            await check_access(scope, receive)
            await self.app(scope, receive, send_wrapper)
        finally:
            REQUEST_AUTH_GENERATION.reset(gen_token)
            i18n.deactivate(token)


def _signed_in(scope) -> bool:
    """Whether the request carries a bearer token or a session cookie to look up."""
    for k, v in scope["headers"]:
        if k == b"authorization" or (k == b"cookie" and _SESSION_COOKIE_BYTES in v):
            return True
    return False


def resolve_scope(erp: Erp, scope, gen: int | None = None, *, database: bool = True) -> str | None:
    """Put the user, how they signed in, and the language into ``scope``.

    Returns a new anonymous CSRF seed when the response must set that cookie.
    Also used by the error handler for requests that matched no route (Litestar
    runs route middleware only for matched routes). ``gen``: the ``auth`` counter read
    for this request (:func:`erpkit.core.auth.cache.generation`), else read here.
    ``database=False``: raise :class:`~erpkit.core.auth.cache.NeedsDatabase` rather than
    read the database (the caller runs it again in a thread).
    """
    headers: dict[str, str] = {}
    for k, v in scope["headers"]:
        key = k.decode("latin-1")
        if key in headers and key == "cookie":
            headers[key] += "; " + v.decode("latin-1")
        else:
            headers[key] = v.decode("latin-1")
    cookies = _parse_cookies(headers.get("cookie", ""))
    user = None
    via = None
    sid = None
    authz = headers.get("authorization", "")
    if authz[:7].lower() == "bearer ":
        via = "token"
        # Mostly a cache hit on the counter the middleware awaited (erpkit.core.auth.cache);
        # a miss is a few short indexed reads: on SQLite done here rather than paying a
        # thread hop per request (2.4x on this machine), on PostgreSQL in a thread.
        user = auth_cache.user_for_token(erp, authz[7:].strip(), gen, database=database)
    elif SESSION_COOKIE in cookies:
        sid = erp.unsign(cookies[SESSION_COOKIE], "session")
        if sid:
            user = auth_cache.user_for_session(erp, sid, gen, database=database)
            via = "session" if user else None
            if user is None:
                sid = None
    scope["user"] = user
    scope["erp_auth"] = via
    scope["erp_sid"] = sid
    scope["erp_cookies"] = cookies

    set_csrf = None
    if sid is None and via != "token" and CSRF_COOKIE not in cookies:
        set_csrf = secrets.token_urlsafe(24)
        cookies[CSRF_COOKIE] = set_csrf
    lang = cookies.get(LANG_COOKIE)
    scope["erp_locale"] = (
        (user.locale if user else None)
        or (lang if lang in i18n.LANGUAGE_NAMES else None)
        or i18n.negotiate(headers.get("accept-language"), erp.settings.default_locale)
    )
    return set_csrf


def csrf_token(erp: Erp, scope) -> str:
    """The token forms must echo: bound to the session, or to the anonymous cookie."""
    seed = scope.get("erp_sid") or scope.get("erp_cookies", {}).get(CSRF_COOKIE, "")
    return hmac.new(erp.secret, f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()


async def check_access(scope, receive) -> None:
    """Login, permission and CSRF checks for the matched handler.

    Done here rather than as a Litestar guard: Litestar copies the route handler for
    every guard call, which cost a quarter of /healthz's throughput (bench/startup_healthz.py).
    """
    handler = scope.get("route_handler")
    opt = (handler.opt if handler is not None else None) or {}
    _refuse_nul_in_url(scope)
    if scope["method"] not in SAFE_METHODS and not opt.get("csrf_exempt"):
        # Cookies are what a forged cross-site request carries: check when the request
        # is signed in by cookie, or is an HTML form (login, language switch).
        via = scope.get("erp_auth")
        if via == "session" or (via is None and _content_type(scope).startswith(_FORM_TYPES)):
            await _check_csrf(scope, receive)
    if scope["method"] not in SAFE_METHODS:
        await _refuse_nul(scope, receive)
    if opt.get("public"):
        return
    user = scope.get("user")
    if user is None:
        raise NotAuthorizedException()
    perm = opt.get("permission")
    if perm and not user.can(perm):
        raise PermissionDeniedException()


async def _refuse_nul(scope, receive) -> None:
    """Text with NUL characters cannot be stored (PostgreSQL refuses it): a clear 400.

    Checked once here for JSON and form bodies, so that no text field anywhere can
    turn it into a server error. Uploaded files (multipart) may hold any bytes.
    """
    ctype = _content_type(scope)
    if ctype.startswith("application/json") or not ctype:  # Litestar reads JSON by default
        marker = b"\\u0000"
    elif ctype.startswith("application/x-www-form-urlencoded"):
        marker = b"%00"
    else:
        return
    body = await Request(scope, receive).body()  # kept in the scope for the handler
    if marker in body:
        raise ValidationException(
            detail=i18n.gettext("Text must not contain NUL characters."),
        )


def _refuse_nul_in_url(scope) -> None:
    """A NUL character in the path or a query parameter names nothing and cannot be
    compared with stored text (PostgreSQL refuses it): a clear 400 for every parameter
    of every route, as for bodies above."""
    query = scope.get("query_string", b"")
    if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
        raise ValidationException(
            detail=i18n.gettext("Text must not contain NUL characters."),
        )


def _content_type(scope) -> str:
    for k, v in scope["headers"]:
        if k == b"content-type":
            return v.decode("latin-1")
    return ""


class CSRFError(PermissionDeniedException):
    pass


async def _check_csrf(scope, receive) -> None:
    request = Request(scope, receive)
    erp = request.app.state.erp
    sent = request.headers.get(CSRF_HEADER)
    if not sent and _content_type(scope).startswith(_FORM_TYPES):
        form = await request.form()  # parsed once, kept in the scope for the handler
        sent = form.get(CSRF_FIELD)
    expected = csrf_token(erp, scope)
    if not sent or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise CSRFError(detail=i18n.gettext("The form has expired. Reload the page and try again."))
