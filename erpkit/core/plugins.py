"""The plugin manager: discovery, manifests, dependency order, enable/disable.

A plugin is a module (usually a package) listed in the entry-point group
``erpkit.plugins``. Its ``MANIFEST`` is plain data, read before anything of the
plugin is registered::

    MANIFEST = {
        "name": "quotes",
        "version": "1.0.0",
        "depends": ["customers", "products"],
        # optional dependencies: when that plugin is enabled too, this plugin
        # registers after it and, if a module is named, registers that bridge module
        "optional": {"projects": "erpkit.plugins.quotes.bridge_projects"},
        "label": "Quotes",
    }

The hook implementations live in ``<package>.hooks`` (or in the module itself for a
single-file plugin); a large plugin may split them over several modules listed in
``"hooks": ["pkg.hooks", "pkg.hooks_pricing"]``, each registered as part of the plugin.
Nothing here is module-global: every app builds its own
:class:`ErpPluginManager`, so tests never leak plugins into each other.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from erpkit import hookspecs

ENTRY_POINT_GROUP = "erpkit.plugins"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: The core's own hook implementations, registered before any plugin (as Datasette's
#: DEFAULT_PLUGINS): they are not optional and do not appear in ``plugins list``.
CORE_HOOK_MODULES = (
    "erpkit.core.web",
    "erpkit.core.auth.hooks",
    "erpkit.core.hooks",
    "erpkit.core.approval.hooks",
    "erpkit.core.documents.hooks",
    "erpkit.core.fields.hooks",
    "erpkit.core.importing.hooks",
    "erpkit.core.jobs.hooks",
)


class PluginError(Exception):
    """A plugin problem that stops start-up; the message is one line for a person."""


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    depends: tuple[str, ...] = ()
    optional: Mapping[str, str | None] = field(default_factory=dict)
    label: str = ""
    description: str = ""
    #: modules holding the hook implementations (default: ``<package>.hooks``)
    hooks: tuple[str, ...] = ()

    @classmethod
    def read(cls, module: ModuleType, where: str) -> Manifest:
        data = getattr(module, "MANIFEST", None)
        if not isinstance(data, Mapping):
            raise PluginError(f"{where}: module {module.__name__} has no MANIFEST dict")
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise PluginError(f"{where}: MANIFEST name {name!r} must be a lower-case identifier")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise PluginError(f"plugin {name!r}: MANIFEST has no version")
        depends = data.get("depends", ())
        if isinstance(depends, str) or not all(isinstance(d, str) for d in depends):
            raise PluginError(f"plugin {name!r}: MANIFEST depends must be a list of names")
        optional = data.get("optional", {})
        if isinstance(optional, (list, tuple)):
            optional = dict.fromkeys(optional)
        if not isinstance(optional, Mapping):
            raise PluginError(f"plugin {name!r}: MANIFEST optional must be a list or a dict")
        hooks = data.get("hooks", ())
        if isinstance(hooks, str) or not all(isinstance(h, str) for h in hooks):
            raise PluginError(f"plugin {name!r}: MANIFEST hooks must be a list of module names")
        unknown = set(data) - {
            "name",
            "version",
            "depends",
            "optional",
            "label",
            "description",
            "hooks",
        }
        if unknown:
            raise PluginError(f"plugin {name!r}: MANIFEST has unknown key {sorted(unknown)[0]!r}")
        return cls(
            name=name,
            version=version,
            depends=tuple(depends),
            optional=dict(optional),
            label=str(data.get("label", "")),
            description=str(data.get("description", "")),
            hooks=tuple(hooks),
        )


@dataclass
class InstalledPlugin:
    manifest: Manifest
    module: ModuleType
    origin: str  # "entry point <dist>" or "extra"

    @property
    def name(self) -> str:
        return self.manifest.name

    def hooks_modules(self) -> list[ModuleType]:
        """The modules listed in ``MANIFEST["hooks"]``, else :meth:`hooks_module`."""
        if self.manifest.hooks:
            return [importlib.import_module(m) for m in self.manifest.hooks]
        return [self.hooks_module()]

    def hooks_module(self) -> ModuleType:
        """``<package>.hooks`` when the plugin is a package that has one, else the module."""
        if hasattr(self.module, "__path__"):
            try:
                return importlib.import_module(f"{self.module.__name__}.hooks")
            except ModuleNotFoundError as exc:
                if exc.name != f"{self.module.__name__}.hooks":
                    raise
        return self.module


def discover(extra_plugins: Iterable[ModuleType] = ()) -> dict[str, InstalledPlugin]:
    """Every installed plugin by name: the entry-point group plus ``extra_plugins``."""
    installed: dict[str, InstalledPlugin] = {}

    def add(plugin: InstalledPlugin) -> None:
        if plugin.name in installed:
            raise PluginError(
                f"plugin name {plugin.name!r} is used by both {installed[plugin.name].origin} "
                f"and {plugin.origin}"
            )
        installed[plugin.name] = plugin

    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {ep.name!r} ({ep.value})"
        try:
            module = ep.load()
        except Exception as exc:  # an installed plugin that cannot even import
            raise PluginError(f"{where} cannot be imported: {exc}") from None
        manifest = Manifest.read(module, where)
        if manifest.name != ep.name:
            raise PluginError(f"{where}: MANIFEST name is {manifest.name!r}, not {ep.name!r}")
        dist = getattr(ep, "dist", None)
        add(InstalledPlugin(manifest, module, f"entry point of {dist.name if dist else '?'}"))
    for module in extra_plugins:
        add(InstalledPlugin(Manifest.read(module, module.__name__), module, "extra"))
    return installed


def resolve(installed: Mapping[str, InstalledPlugin], requested: Iterable[str] | None) -> list[str]:
    """The enabled plugin names in dependency order, or a :class:`PluginError`."""
    if requested is None:
        enabled = set(installed)
    else:
        enabled = set()
        for name in requested:
            if name not in installed:
                known = ", ".join(sorted(installed)) or "none"
                raise PluginError(
                    f"unknown plugin {name!r} in the enabled list (installed: {known})"
                )
            enabled.add(name)
    for name in sorted(enabled):
        for dep in installed[name].manifest.depends:
            if dep not in installed:
                raise PluginError(
                    f"plugin {name!r} depends on plugin {dep!r}, which is not installed"
                )
            if dep not in enabled:
                raise PluginError(
                    f"plugin {name!r} depends on plugin {dep!r}, which is not enabled"
                )

    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise PluginError("plugins depend on each other in a cycle: " + " -> ".join(chain))
        state[name] = "visiting"
        manifest = installed[name].manifest
        for dep in (*manifest.depends, *[o for o in manifest.optional if o in enabled]):
            visit(dep, (*chain, dep))
        state[name] = "done"
        order.append(name)

    for name in sorted(enabled):
        visit(name, (name,))
    return order


class ErpPluginManager(pluggy.PluginManager):
    """pluggy's manager plus what erpkit knows about plugins: manifests and order."""

    def __init__(self) -> None:
        super().__init__("erpkit")
        self.add_hookspecs(hookspecs)
        self.installed: dict[str, InstalledPlugin] = {}
        self.enabled: list[str] = []
        #: pluggy registration name -> erpkit plugin name ("core" for the core)
        self.owner_of: dict[str, str] = {}

    @classmethod
    def build(
        cls,
        requested: Iterable[str] | None,
        extra_plugins: Iterable[ModuleType] = (),
        core_modules: Iterable[str] = CORE_HOOK_MODULES,
    ) -> ErpPluginManager:
        pm = cls()
        pm.installed = discover(extra_plugins)
        pm.enabled = resolve(pm.installed, requested)
        # historic: every plugin registered from here on is offered the call too
        pm.hook.add_hookspecs.call_historic(kwargs={"plugin_manager": pm})
        for modname in core_modules:
            pm._register(importlib.import_module(modname), modname, "core")
        for name in pm.enabled:
            plugin = pm.installed[name]
            for i, module in enumerate(plugin.hooks_modules()):
                pm._register(module, name if i == 0 else f"{name}#{module.__name__}", name)
            for dep, bridge in plugin.manifest.optional.items():
                if bridge and dep in pm.enabled:
                    pm._register(importlib.import_module(bridge), f"{name}+{dep}", name)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            owner = pm.owner_of.get(pm.get_name(exc.plugin) or "", "?")
            raise PluginError(f"plugin {owner!r}: {exc}") from None
        return pm

    def _register(self, module: Any, reg_name: str, owner: str) -> None:
        try:
            self.register(module, name=reg_name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {owner!r}: {exc}") from None
        self.owner_of[reg_name] = owner

    def is_enabled(self, name: str) -> bool:
        return name in self.enabled

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook's implementations one by one, in registration order.

        Returns ``(plugin name, result)`` pairs (``None`` results left out), so that
        registrations can be attributed to the plugin that made them.
        """
        caller = getattr(self.hook, hook_name)
        results = []
        for impl in caller.get_hookimpls():
            args = {name: kwargs[name] for name in impl.argnames}
            value = impl.function(**args)
            if value is not None:
                results.append((self.owner_of.get(impl.plugin_name, impl.plugin_name), value))
        return results
