"""The web shell: the Jinja environment, pages, errors, sign-in and language.

This module is also one of the core's default plugins: its hook implementations
register the shell's routes and menu.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from contextvars import copy_context
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary

import jinja2
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template.config import TemplateConfig
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from erpkit import __version__, hookimpl
from erpkit.core import i18n
from erpkit.core.auth import service
from erpkit.core.auth.middleware import (
    CSRF_FIELD,
    LANG_COOKIE,
    SESSION_COOKIE,
    csrf_token,
    resolve_scope,
)
from erpkit.core.errors import ErpError
from erpkit.core.i18n import N_
from erpkit.core.i18n import gettext as _
from erpkit.core.params import NextUrl
from erpkit.core.registry import MenuItem

log = logging.getLogger("erpkit")
CORE_TEMPLATES = Path(__file__).parent / "templates"
STATIC_CACHE = CacheControlHeader(max_age=3600, public=True)


# -- the environment the core owns --------------------------------------------------


def make_environment(erp) -> jinja2.Environment:
    core_loader = jinja2.FileSystemLoader(str(CORE_TEMPLATES))
    # later plugins win, as they are the more specific; "default:" reaches the core
    plugin_loaders = [jinja2.FileSystemLoader(str(d)) for d in reversed(erp.registry.template_dirs)]
    loader = jinja2.ChoiceLoader(
        [*plugin_loaders, core_loader, jinja2.PrefixLoader({"default": core_loader}, delimiter=":")]
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    env.filters["zip"] = lambda a, b: list(zip(a, b, strict=False))
    env.globals.update(
        erpkit_version=__version__,
        languages=i18n.LANGUAGE_NAMES,
    )
    erp.pm.hook.prepare_jinja2_environment(env=env, erp=erp)
    erp.jinja = env
    return env


def template_config(erp) -> TemplateConfig:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(erp.jinja))


def menu_for(erp, user) -> list[dict[str, Any]]:
    """The navigation tree the user may see, sorted, labels translated."""
    items = [
        i
        for i in erp.registry.menu_items.values()
        if user is not None and (i.permission is None or user.can(i.permission))
    ]
    children: dict[str | None, list[MenuItem]] = {}
    for item in sorted(items, key=lambda i: (i.order, i.id)):
        children.setdefault(item.parent, []).append(item)

    def build(parent):
        return [
            {"id": i.id, "label": _(i.label), "href": i.href, "children": build(i.id)}
            for i in children.get(parent, [])
        ]

    return build(None)


def page_context(request: Request, template: str, **context: Any) -> dict[str, Any]:
    """The context every page of the shell needs, plus ``context``."""
    erp = request.app.state.erp
    user = request.scope.get("user")
    base = {
        "request": request,
        "user": user,
        "menu": menu_for(erp, user),
        "csrf_token": csrf_token(erp, request.scope),
        "csrf_field": CSRF_FIELD,
        "locale": i18n.current_locale(),
        "path": request.url.path,
    }
    for extra in erp.pm.hook.extra_template_vars(template=template, request=request, erp=erp):
        if extra:
            base.update(extra)
    base.update(context)
    return base


def detail_extras(request: Request, entity_type: str, obj: Any) -> dict[str, list]:
    """The buttons (``entity_actions``) and panels (``entity_panels``) of a detail page.

    Pass the result to the ``entity_extras`` macro of ``_entity.html``.
    """
    hook = request.app.state.erp.pm.hook
    user = request.scope.get("user")
    kwargs = {"entity_type": entity_type, "obj": obj, "user": user, "request": request}
    actions = [a for group in hook.entity_actions(**kwargs) for a in (group or [])]
    panels = [p for group in hook.entity_panels(**kwargs) for p in (group or [])]
    return {
        "actions": sorted(actions, key=lambda a: (a.order, a.id)),
        "panels": sorted(panels, key=lambda p: (p.order, p.id)),
    }


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Template:
    """Render a page of the shell with the context every page needs."""
    return Template(
        template_name=template,
        context=page_context(request, template, **context),
        status_code=status_code,
    )


def form_errors(exc: ErpError, default_field: str) -> dict[str, str]:
    """The field errors of a refused form: the service's, or its detail on one field."""
    return dict(getattr(exc, "errors", None) or {default_field: exc.detail})


async def submit_form(
    request: Request,
    action: Callable[[Session], Any],
    on_error: Callable[[Session, ErpError], Any],
    success: str | Callable[[Any], str],
) -> Any:
    """Run a form's service call in one transaction, off the event loop.

    ``action(session)`` runs inside a savepoint; when the service refuses (a
    :class:`~erpkit.core.errors.ValidationError` or ``Conflict``) its changes are undone
    and ``on_error(session, exc)`` renders the form again with the errors beside the
    fields, in the same transaction. Otherwise the browser is redirected (303) to
    ``success`` (or ``success(result)``).
    """
    from erpkit.core.errors import Conflict, ValidationError

    erp = request.app.state.erp

    def work():
        with erp.sessionmaker.begin() as s:
            try:
                with s.begin_nested():
                    result = action(s)
            except (ValidationError, Conflict) as exc:
                return on_error(s, exc)
            target = success(result) if callable(success) else success
            return Redirect(target, status_code=303)

    return await in_thread(erp, work)


async def in_thread(erp, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a thread of the event loop's executor (the one Litestar's sync
    handlers use; asyncio's default has CPUs + 4 threads), with the request's context
    (language), when one of :func:`db_limiter`'s places is free. The place is held until
    the thread is done, even when the request goes away meanwhile.

    anyio's ``to_thread.run_sync`` held the GIL on the loop 0.18 ms a request here against
    0.06 ms for this (bench/customer_list.py under py-spy --gil)."""
    limiter = db_limiter(erp)
    await limiter.acquire()
    try:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, partial(copy_context().run, fn, *args))
    except BaseException:
        limiter.release()
        raise
    future.add_done_callback(lambda _f: limiter.release())
    return await asyncio.shield(future)


def db_limiter(erp) -> asyncio.Semaphore:
    """How many threads may run ``erp``'s database work at once (per event loop): as
    many as its connection pool keeps open (``pool_size``).

    anyio's default was 40 threads. With more threads holding connections than the pool
    keeps, the extra ones are opened for a request and closed after it ("overflow"): on
    PostgreSQL a new server process each time, about 10 a second under
    bench/customer_list.py's load, and the list answered 52-67% of the bare handler's
    requests. Requests beyond the limit wait on the event loop for a place instead.
    """
    loop = asyncio.get_running_loop()
    limiters = erp.__dict__.get("_db_limiters")
    if limiters is None:
        limiters = erp._db_limiters = WeakKeyDictionary()
    limiter = limiters.get(loop)
    if limiter is None:
        size = getattr(erp.engine.pool, "size", None)
        limiter = limiters[loop] = asyncio.Semaphore(size() if size else 10)
    return limiter


async def run_read(erp, work, *, scan: bool = False):
    """Run a request's database reads ``work()``.

    On SQLite, short indexed reads (a page of a list, a record) run on the event loop:
    they are in-process work with nothing to wait for, and the hop to the thread pool
    costs more than the read (2.4x on a 50-row page here; with one worker the GIL
    serialises the Python work anyway). Reads that may scan many rows (``scan=True``:
    free-text search, exports) go to the thread pool, so that other requests are served
    meanwhile. On PostgreSQL every read goes to the thread pool: a query waits for the
    server, and threads let those waits overlap (bench/customer_list.py: the bare
    handler on the loop reached a third of the one in the thread pool). No more threads
    than the pool keeps connections (:func:`db_limiter`).
    """
    if scan or not erp.settings.is_sqlite:
        return await in_thread(erp, work)
    return work()


# -- errors: problem+json for the API, a page for people ------------------------------


def _wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/schema", "/healthz")):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


ERROR_TITLE = N_("Error")
_TITLES = {
    400: N_("Bad request"),
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Too large"),
    422: N_("Please correct the errors below"),
    429: N_("Too many requests"),
    500: N_("Something went wrong"),
}


def _classify(exc: Exception) -> tuple[int, str, list[dict[str, str]]]:
    if isinstance(exc, ErpError):
        errors = [{"field": k, "message": v} for k, v in getattr(exc, "errors", {}).items()]
        return exc.status, exc.detail, errors
    if isinstance(exc, ValidationException):
        errors = []
        for item in exc.extra if isinstance(exc.extra, list) else []:
            if isinstance(item, dict):
                errors.append(
                    {
                        "field": str(item.get("key") or item.get("source") or ""),
                        "message": str(item.get("message", "")),
                    }
                )
        return 400, _("The request does not match the schema."), errors
    if isinstance(exc, HTTPException):
        status = exc.status_code
        detail = exc.detail if status < 500 else ""
        default = _(_TITLES.get(status, ERROR_TITLE))
        # Litestar's own English details are replaced by translated ones
        if status in (401, 403, 404, 405) and not getattr(exc, "erp_detail", False):
            detail = {
                401: _("Please sign in."),
                403: _("You are not allowed to do this."),
                404: _("Not found."),
                405: _("This method is not allowed here."),
            }[status]
            if type(exc).__name__ == "CSRFError":
                detail = exc.detail
        return status, detail or default, []
    return HTTP_500_INTERNAL_SERVER_ERROR, _("Something went wrong. The error has been logged."), []


def handle_exception(request: Request, exc: Exception) -> Response:
    if "erp_locale" not in request.scope:
        # no route matched, so the middleware did not run: find user and language here
        try:
            resolve_scope(request.app.state.erp, request.scope)
        except Exception:  # the database may be what failed
            request.scope.setdefault("user", None)
            request.scope["erp_locale"] = request.app.state.erp.settings.default_locale
    # the middleware's language may be gone when an exception is raised inside it
    with i18n.using(request.scope["erp_locale"], request.app.state.erp.catalogs):
        return _error_response(request, exc)


def _error_response(request: Request, exc: Exception) -> Response:
    status, detail, errors = _classify(exc)
    if status >= 500:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if _wants_json(request):
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": _(_TITLES.get(status, ERROR_TITLE)),
            "status": status,
            "detail": detail,
        }
        if errors:
            body["errors"] = errors
        for key, value in (getattr(exc, "extensions", None) or {}).items():
            body.setdefault(key, value)
        headers = {"Retry-After": "60"} if status == 429 else None
        return Response(
            content=body, status_code=status, media_type="application/problem+json", headers=headers
        )
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target)}", status_code=303)
    try:
        # rendered here, not later, so that a failing template cannot escape this handler
        html = request.app.state.erp.jinja.get_template("error.html").render(
            page_context(
                request,
                "error.html",
                status=status,
                detail=detail,
                errors=errors,
                title=_(_TITLES.get(status, ERROR_TITLE)),
            )
        )
        return Response(content=html, status_code=status, media_type=MediaType.HTML)
    except Exception:  # the error page itself must never fail
        log.exception("error page failed")
        return Response(content=f"{status} {detail}", status_code=status, media_type=MediaType.TEXT)


def exception_handlers() -> dict:
    return {Exception: handle_exception}


# -- routes of the shell ------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@get("/healthz", opt={"public": True}, media_type=MediaType.JSON, tags=["core"])
async def healthz() -> dict[str, str]:
    """Liveness: answers while the process serves requests."""
    return {"status": "ok"}


@get("/", include_in_schema=False, sync_to_thread=True)
def home(request: Request) -> Template:
    from erpkit.core.auth.models import Role

    erp = request.app.state.erp
    user = request.scope["user"]
    modules = [erp.pm.installed[n].manifest for n in erp.pm.enabled]
    zh = i18n.current_locale() == "zh_CN"
    with erp.sessionmaker() as s:
        roles = s.execute(select(Role.name_zh, Role.name_en).where(Role.code.in_(user.roles)))
        role_names = sorted(zh_name if zh else en_name for zh_name, en_name in roles)
    return page(request, "home.html", modules=modules, role_names=role_names)


@get("/login", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def login_page(request: Request, next: NextUrl = None) -> Template | Redirect:
    if request.scope.get("user") is not None:
        return Redirect(_safe_next(next), status_code=303)
    return page(request, "login.html", next=_safe_next(next), username="", error=None)


@post("/login", opt={"public": True}, include_in_schema=False)
async def login_submit(request: Request) -> Response | Template:
    erp = request.app.state.erp
    form = await request.form()
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))[:1000]
    target = _safe_next(str(form.get("next", "/")))
    client = request.client.host if request.client else ""
    try:
        # argon2 is slow on purpose: keep it off the event loop
        sid = await in_thread(erp, sign_in, erp, username, password, client)
    except ErpError as exc:  # throttled
        return page(
            request,
            "login.html",
            status_code=exc.status,
            next=target,
            username=username,
            error=exc.detail,
        )
    if sid is None:
        return page(
            request,
            "login.html",
            status_code=401,
            next=target,
            username=username,
            error=_("Wrong user name or password."),
        )
    return set_session_cookie(Redirect(target, status_code=303), erp, sid)


def set_session_cookie(response: Response, erp, sid: str) -> Response:
    """Sign the browser in: the session row's id, signed, in an HttpOnly cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        erp.sign(sid, "session"),
        httponly=True,
        samesite="lax",
        secure=erp.settings.cookie_secure,
        max_age=erp.settings.session_max_age_seconds,
    )
    return response


def sign_in(erp, username: str, password: str, client: str) -> str | None:
    """A new session id for matching credentials, else ``None`` (throttling applies)."""
    with erp.sessionmaker() as s, s.begin():
        user = service.authenticate(
            s,
            username,
            password,
            client=client,
            max_failures=erp.settings.login_max_failures,
            window=erp.settings.login_window_seconds,
        )
        return (
            service.start_session(s, user, erp.settings.session_max_age_seconds) if user else None
        )


@post("/logout", include_in_schema=False, sync_to_thread=False)
def logout(request: Request) -> Redirect:
    erp = request.app.state.erp
    sid = request.scope.get("erp_sid")
    if sid:
        with erp.sessionmaker() as s, s.begin():
            service.end_session(s, sid)
    response = Redirect("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@post("/lang", opt={"public": True}, include_in_schema=False)
async def set_language(request: Request) -> Redirect:
    erp = request.app.state.erp
    form = await request.form()
    locale = str(form.get("locale", ""))
    target = _safe_next(str(form.get("next", "/")))
    response = Redirect(target, status_code=303)
    if locale not in i18n.LANGUAGE_NAMES:
        return response
    response.set_cookie(
        LANG_COOKIE,
        locale,
        max_age=365 * 24 * 3600,
        samesite="lax",
        httponly=True,
        secure=erp.settings.cookie_secure,
    )
    user = request.scope.get("user")
    if user is not None:
        with erp.sessionmaker() as s, s.begin():
            service.update_user(s, service.get_user(s, user.id), locale=locale)
    return response


# -- the shell as a default plugin --------------------------------------------------------


@hookimpl
def register_routes(erp):
    return [healthz, home, login_page, login_submit, logout, set_language]


@hookimpl
def register_menu_items(erp):
    return [MenuItem(id="home", label=N_("Home"), href="/", order=0)]


# -- start-up -------------------------------------------------------------------------------


class StartupError(Exception):
    """The app cannot start; the message is one line for the person running it."""


def startup(erp) -> None:
    """Check the database, apply first-time permission grants, create ``admin``."""
    from erpkit.core.settings import redact_url

    try:
        with erp.sessionmaker() as s, s.begin():
            s.execute(text("SELECT 1 FROM core_user WHERE 1 = 0"))
    except SQLAlchemyError as exc:
        msg = str(exc.orig if hasattr(exc, "orig") else exc).strip().splitlines()[0]
        raise StartupError(
            f"database {redact_url(erp.settings.db_url)} is not ready ({msg}); "
            "run `erpkit db upgrade`"
        ) from None
    for attempt in range(3):
        try:
            with erp.sessionmaker() as s, s.begin():
                service.sync_permissions(s, erp.registry.permissions.values())
                created = service.ensure_admin(s, erp.settings.admin_password)
            break
        except IntegrityError:  # another worker starting at the same moment did it first
            if attempt == 2:
                raise
    if created:
        print(
            f"erpkit: created the user 'admin' with the password {created} "
            "(shown once: write it down, then change it)",
            file=sys.stderr,
            flush=True,
        )
