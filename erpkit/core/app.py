"""The composition root: ``create_app`` builds one erpkit application.

It discovers and orders the plugins, collects what they register, builds the
database engine and the Jinja environment the core owns, and assembles the
Litestar app. Nothing is module-global: two apps in one process do not share
plugins, engines or settings.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from erpkit import __version__
from erpkit.core import entities, i18n
from erpkit.core.db import make_engine, make_sessionmaker
from erpkit.core.openapi import document_problems
from erpkit.core.plugins import ErpPluginManager
from erpkit.core.registry import Registry
from erpkit.core.settings import Settings, load_settings

log = logging.getLogger("erpkit")

CORE_DIR = Path(__file__).parent


class Erp:
    """One running erpkit: what hooks receive as ``erp``.

    Holds the settings, the plugin manager, the registry of what plugins
    registered, the database engine and session factory, the Jinja environment
    and the translation catalogs.
    """

    def __init__(self, settings: Settings, pm: ErpPluginManager) -> None:
        self.settings = settings
        self.pm = pm
        self.registry = Registry()
        self.engine = make_engine(settings)
        self.sessionmaker: sessionmaker[Session] = make_sessionmaker(self.engine)
        #: for lookups that never write: on SQLite they neither take nor wait for the
        #: write lock (business actions BEGIN IMMEDIATE there)
        self.read_sessionmaker: sessionmaker[Session] = make_sessionmaker(
            self.engine, readonly=True
        )
        entities.install_event_dispatch(self, self.sessionmaker)
        self._secret: bytes | None = None
        self.catalogs: dict[str, Any] = {}
        self.jinja = None  # set by erpkit.core.web.make_environment

    @property
    def hook(self):
        return self.pm.hook

    def is_enabled(self, plugin: str) -> bool:
        return self.pm.is_enabled(plugin)

    # -- registration --------------------------------------------------------------

    def collect(self) -> None:
        """Call every registration hook once and check what comes back."""
        reg = self.registry
        for plugin, models in self.pm.call_each("register_models", erp=self):
            reg.add_models(plugin, models)
        reg.add_migrations("core", CORE_DIR / "migrations" / "versions")
        for plugin, directory in self.pm.call_each("register_migrations", erp=self):
            reg.add_migrations(plugin, directory)
        for plugin, handlers in self.pm.call_each("register_routes", erp=self):
            reg.add_routes(plugin, handlers)
        for plugin, perms in self.pm.call_each("register_permissions", erp=self):
            reg.add_permissions(plugin, perms)
        for plugin, items in self.pm.call_each("register_menu_items", erp=self):
            reg.add_menu_items(plugin, items)
        reg.check_menu()
        for plugin, lists in self.pm.call_each("register_option_lists", erp=self):
            reg.add_option_lists(plugin, lists)
        for plugin, dirs in self.pm.call_each("register_templates", erp=self):
            reg.add_dirs("templates", plugin, dirs)
        for plugin, items in self.pm.call_each("register_entity_types", erp=self):
            reg.add_named("entity type", plugin, items)
        for plugin, items in self.pm.call_each("register_document_templates", erp=self):
            reg.add_named("document template", plugin, items)
        for plugin, items in self.pm.call_each("register_import_schemas", erp=self):
            reg.add_named("import schema", plugin, items)
        for plugin, items in self.pm.call_each("register_jobs", erp=self):
            reg.add_named("job", plugin, items)
        # the core's services keep their catalogs beside them (core/<service>/locales)
        for directory in (i18n.CORE_LOCALES, *sorted(CORE_DIR.glob("*/locales"))):
            if directory != i18n.CORE_LOCALES or directory.is_dir():
                reg.add_dirs("translations", "core", directory)
        for plugin, dirs in self.pm.call_each("register_translations", erp=self):
            reg.add_dirs("translations", plugin, dirs)
        self.catalogs = i18n.load_catalogs(reg.translation_dirs)

    # -- secrets -----------------------------------------------------------------------

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = self._load_secret()
        return self._secret

    def _load_secret(self) -> bytes:
        if self.settings.secret_key:
            return self.settings.secret_key.encode()
        # Generated once and kept in the database, so that every worker and machine
        # of one deployment signs cookies with the same key.
        from erpkit.core.auth.models import KeyValue

        with self.sessionmaker() as s:
            value = s.scalar(select(KeyValue.value).where(KeyValue.key == "secret_key"))
            if value is None:
                try:
                    s.execute(
                        insert(KeyValue).values(key="secret_key", value=secrets.token_urlsafe(48))
                    )
                    s.commit()
                except IntegrityError:  # another worker won the race
                    s.rollback()
                value = s.scalar(select(KeyValue.value).where(KeyValue.key == "secret_key"))
        return value.encode()

    def sign(self, value: str, purpose: str) -> str:
        mac = hmac.new(self.secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"{value}.{mac[:40]}"

    def unsign(self, signed: str, purpose: str) -> str | None:
        value, _, _mac = signed.rpartition(".")
        if not value:
            return None
        return value if hmac.compare_digest(self.sign(value, purpose), signed) else None


def build_erp(
    settings: Settings | None = None,
    plugins: Iterable[str] | None = None,
    extra_plugins: Iterable[ModuleType] = (),
) -> Erp:
    """Plugins, registry, engine and catalogs, without the web app (used by the CLI)."""
    settings = settings or load_settings()
    requested = tuple(plugins) if plugins is not None else settings.plugins
    pm = ErpPluginManager.build(requested, extra_plugins)
    erp = Erp(settings, pm)
    erp.collect()
    return erp


def create_app(
    settings: Settings | None = None,
    plugins: Iterable[str] | None = None,
    extra_plugins: Iterable[ModuleType] = (),
) -> Litestar:
    """Build the erpkit web application.

    ``plugins`` overrides the enabled set of the settings; ``extra_plugins`` are
    plugin modules registered as if installed (tests and embedding use it).
    """
    return assemble(build_erp(settings, plugins, extra_plugins))


def assemble(erp: Erp) -> Litestar:
    """The Litestar app of an already built :class:`Erp`."""
    from erpkit.core import web
    from erpkit.core.auth.middleware import AuthMiddleware
    from erpkit.core.jobs import worker as jobs_worker

    web.make_environment(erp)

    def on_startup(app: Litestar) -> None:
        web.startup(erp)
        erp.pm.hook.startup(erp=erp)
        jobs_worker.start_in_process(erp)  # unless ERPKIT_WORKER=0

    def on_shutdown(app: Litestar) -> None:
        jobs_worker.stop_in_process(erp)
        erp.pm.hook.shutdown(erp=erp)
        erp.engine.dispose()

    app = Litestar(
        route_handlers=[
            create_static_files_router(
                path="/static",
                directories=[CORE_DIR / "static"],
                opt={"public": True},
                include_in_schema=False,
                cache_control=web.STATIC_CACHE,
            ),
            *erp.registry.route_handlers,
        ],
        middleware=[DefineMiddleware(AuthMiddleware, erp=erp)],
        exception_handlers=web.exception_handlers(),
        template_config=web.template_config(erp),
        openapi_config=OpenAPIConfig(
            title="erpkit",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            description="The erpkit JSON API. Authenticate with `Authorization: Bearer <token>`"
            " (POST /api/v1/auth/token).",
        ),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        state=State({"erp": erp}),
        debug=False,
        request_max_body_size=50 * 1024 * 1024,
    )
    document_problems(app)
    return app
