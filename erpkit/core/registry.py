"""What plugins register, collected in one place and checked for duplicates.

Registration hooks return plain data (see :mod:`erpkit.hookspecs`); the
:class:`Registry` records which plugin contributed each item so that a clash is
reported with both plugin names, at start-up, before anything is served.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class RegistrationError(Exception):
    """Two plugins registered the same thing, or one registered something malformed."""


@dataclass(frozen=True)
class Permission:
    """A permission string such as ``customers.create``.

    ``label`` is English and goes through the translation catalogs; ``default_roles``
    are granted the first time the permission appears in a database.
    """

    code: str
    label: str
    default_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class MenuItem:
    """An entry of the navigation; ``label`` is English and translated when shown."""

    id: str
    label: str
    href: str
    permission: str | None = None
    order: int = 100
    parent: str | None = None


@dataclass(frozen=True)
class Option:
    """One entry of an option list, labelled in both languages."""

    code: str
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class OptionList:
    """An admin-editable list of choices, e.g. ``customers.region``."""

    code: str
    label: str
    options: tuple[Option, ...] = ()


_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_PATH_PARAM = re.compile(r"\{[^}]*\}")


@dataclass
class Registry:
    """Everything the enabled plugins registered, keyed by name, with its owner."""

    tables: dict[str, str] = field(default_factory=dict)
    models: list[Any] = field(default_factory=list)
    routes: dict[tuple[str, str], str] = field(default_factory=dict)
    route_handlers: list[Any] = field(default_factory=list)
    permissions: dict[str, Permission] = field(default_factory=dict)
    menu_items: dict[str, MenuItem] = field(default_factory=dict)
    option_lists: dict[str, OptionList] = field(default_factory=dict)
    template_dirs: list[Path] = field(default_factory=list)
    translation_dirs: list[Path] = field(default_factory=list)
    migrations: dict[str, Path] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    #: entity types, document templates, import schemas, jobs: kind -> name -> item
    named: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _claim(self, kind: str, key: str, plugin: str) -> None:
        other = self.owners.get((kind, key))
        if other is not None:
            raise RegistrationError(
                f"{kind} {key!r} is registered by both plugin {other!r} and plugin {plugin!r}"
            )
        self.owners[(kind, key)] = plugin

    def owner(self, kind: str, key: str) -> str | None:
        return self.owners.get((kind, key))

    # -- each kind ------------------------------------------------------------

    def add_models(self, plugin: str, models: Iterable[Any]) -> None:
        for model in models:
            table = getattr(model, "__table__", model)
            name = getattr(table, "fullname", None)
            if name is None:
                raise RegistrationError(
                    f"plugin {plugin!r} registered {model!r}, which is not a model or a table"
                )
            self._claim("table", name, plugin)
            self.tables[name] = plugin
            self.models.append(model)

    def add_migrations(self, plugin: str, directory: str | Path) -> None:
        path = Path(directory)
        if not path.is_dir():
            raise RegistrationError(f"plugin {plugin!r}: migrations directory {path} is missing")
        self._claim("migrations", plugin, plugin)
        self.migrations[plugin] = path

    def add_routes(self, plugin: str, handlers: Iterable[Any]) -> None:
        from litestar import Router

        handlers = list(handlers)
        # A throw-away router resolves controllers and routers into (path, method).
        probe = Router(path="/", route_handlers=handlers)
        for path, methods in probe.route_handler_method_map.items():
            shape = _PATH_PARAM.sub("{}", path.rstrip("/") or "/")
            for method in methods:
                if method == "OPTIONS":
                    continue
                key = f"{method} {shape}"
                self._claim("route", key, plugin)
                self.routes[(method, shape)] = plugin
        self.route_handlers.extend(handlers)

    def add_permissions(self, plugin: str, permissions: Iterable[Permission]) -> None:
        for perm in permissions:
            if not isinstance(perm, Permission) or not _CODE.match(perm.code):
                raise RegistrationError(
                    f"plugin {plugin!r}: {perm!r} is not a Permission "
                    "with a code like 'module.action'"
                )
            self._claim("permission", perm.code, plugin)
            self.permissions[perm.code] = perm

    def add_menu_items(self, plugin: str, items: Iterable[MenuItem]) -> None:
        for item in items:
            if not isinstance(item, MenuItem):
                raise RegistrationError(f"plugin {plugin!r}: {item!r} is not a MenuItem")
            self._claim("menu item", item.id, plugin)
            self.menu_items[item.id] = item

    def add_option_lists(self, plugin: str, lists: Iterable[OptionList]) -> None:
        for olist in lists:
            if not isinstance(olist, OptionList) or not _CODE.match(olist.code):
                raise RegistrationError(
                    f"plugin {plugin!r}: {olist!r} is not an OptionList "
                    "with a code like 'module.name'"
                )
            codes = [o.code for o in olist.options]
            if len(codes) != len(set(codes)):
                raise RegistrationError(
                    f"plugin {plugin!r}: option list {olist.code!r} repeats an option code"
                )
            self._claim("option list", olist.code, plugin)
            self.option_lists[olist.code] = olist

    def add_named(self, kind: str, plugin: str, items: Iterable[Any]) -> None:
        """Items identified by their ``name`` (entity types, templates, schemas, jobs)."""
        bucket = self.named.setdefault(kind, {})
        for item in items:
            name = getattr(item, "name", None)
            if not isinstance(name, str) or not _CODE.match(name):
                raise RegistrationError(
                    f"plugin {plugin!r}: {kind} {item!r} needs a name like 'module.thing'"
                )
            self._claim(kind, name, plugin)
            bucket[name] = item

    def items(self, kind: str) -> dict[str, Any]:
        """The registered items of a kind, by name (empty when none)."""
        return self.named.get(kind, {})

    def add_dirs(self, kind: str, plugin: str, value: str | Path | Iterable[str | Path]) -> None:
        paths = [value] if isinstance(value, (str, Path)) else list(value)
        target = self.template_dirs if kind == "templates" else self.translation_dirs
        for p in paths:
            path = Path(p)
            if not path.is_dir():
                raise RegistrationError(f"plugin {plugin!r}: {kind} directory {path} is missing")
            target.append(path)

    def check_menu(self) -> None:
        for item in self.menu_items.values():
            if item.parent and item.parent not in self.menu_items:
                raise RegistrationError(
                    f"menu item {item.id!r} of plugin {self.owner('menu item', item.id)!r} "
                    f"names an unknown parent {item.parent!r}"
                )
            if item.permission and item.permission not in self.permissions:
                raise RegistrationError(
                    f"menu item {item.id!r} of plugin {self.owner('menu item', item.id)!r} "
                    f"needs an unknown permission {item.permission!r}"
                )
