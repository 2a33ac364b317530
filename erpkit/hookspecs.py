"""The hooks erpkit calls: each function's docstring is the contract.

Plugins implement them with ``from erpkit import hookimpl``. Every hook receives
keyword arguments; an implementation may accept any subset of them. ``erp`` is the
running :class:`erpkit.core.app.Erp` (settings, database, registry, plugin manager).

Registration hooks run once, at start-up, in plugin dependency order. What they
return is data: the core collects it in :class:`erpkit.core.registry.Registry` and
refuses duplicates with a start-up error naming both plugins.
"""

from __future__ import annotations

from pluggy import HookspecMarker

hookspec = HookspecMarker("erpkit")


# -- registration ---------------------------------------------------------------


@hookspec(historic=True)
def add_hookspecs(plugin_manager):
    """Add a plugin's own hook specifications.

    Call ``plugin_manager.add_hookspecs(module_or_class)``. The hook is historic,
    so it is called for every plugin, whenever it registers; plugins that implement
    another plugin's hooks mark their implementations ``@hookimpl(optionalhook=True)``
    so that they still load when that plugin is disabled.
    """


@hookspec
def register_models(erp):
    """Return the SQLAlchemy declarative classes (or ``Table`` objects) of the plugin.

    They must use :data:`erpkit.core.db.Base` (one metadata, one naming convention).
    A table name registered by two plugins is a start-up error.
    """


@hookspec
def register_migrations(erp):
    """Return the directory of this plugin's Alembic revisions (a ``str`` or ``Path``).

    The plugin's revisions form one branch whose root revision carries
    ``branch_labels=("<plugin name>",)``. ``erpkit db upgrade`` upgrades the core,
    then every enabled plugin in dependency order; each plugin keeps its own version
    table (``alembic_version_<name>``), so that disabling a plugin leaves its
    tables and data untouched and enabling it again finds them.
    """


@hookspec
def register_routes(erp):
    """Return Litestar route handlers, controllers or routers to mount on the app.

    Handlers are protected by login unless their ``opt`` says ``{"public": True}``.
    ``opt={"permission": "module.action"}`` asks the core guard for a permission.
    The same method and path registered twice is a start-up error.
    """


@hookspec
def register_templates(erp):
    """Return a template directory (or a list of them) for this plugin.

    Put templates under ``<dir>/<plugin name>/`` so that they do not collide. A file
    with the same name as a core template overrides it; the original stays
    reachable as ``"default:<name>"`` (for ``{% extends "default:base.html" %}``).
    """


@hookspec
def register_translations(erp):
    """Return a ``locales`` directory holding ``<locale>/LC_MESSAGES/messages.po``.

    The catalogs of all plugins are merged with the core's; ``_()`` in templates and
    :func:`erpkit.core.i18n.gettext` in code see them all.
    """


@hookspec
def register_permissions(erp):
    """Return a list of :class:`erpkit.core.registry.Permission`.

    Codes are ``"<plugin>.<action>"``. ``default_roles`` are granted the first time
    a permission appears in a database; later, grants are the admin's data. The
    ``admin`` role holds every permission. A code registered twice is a start-up error.
    """


@hookspec
def register_menu_items(erp):
    """Return a list of :class:`erpkit.core.registry.MenuItem` for the navigation.

    An item with ``permission`` is shown only to users who hold it; ``parent`` names
    another item's id to nest it. An id registered twice is a start-up error.
    """


@hookspec
def register_option_lists(erp):
    """Return a list of :class:`erpkit.core.registry.OptionList` (admin-editable lists).

    Each has a code such as ``"customers.region"`` and default options; the admin
    edits the options later. A code registered twice is a start-up error.
    """


@hookspec
def register_cli_commands(cli):
    """Add ``click`` commands or groups to the ``erpkit`` command group ``cli``.

    Give every command a ``help`` text: ``erpkit COMMAND --help`` must explain it.
    """


@hookspec
def prepare_jinja2_environment(env, erp):
    """Change the Jinja2 environment the core owns: add filters, globals, tests.

    Called once, after every plugin's templates are known.
    """


@hookspec
def extra_template_vars(template, request, erp):
    """Return a dict of extra variables for rendering ``template``.

    Called for every page the core renders; ``request`` is the Litestar request.
    """


@hookspec
def startup(erp):
    """Called once when the application starts, after the database is reachable."""


@hookspec
def shutdown(erp):
    """Called once when the application stops."""


# -- entity types and their lifecycle ----------------------------------------------------


@hookspec
def register_entity_types(erp):
    """Return a list of :class:`erpkit.core.entities.EntityType`.

    An entity type names a business document or record (``"quotes.quote"``): its
    model, label, owner column, number pattern, and whether it is audited, carries
    custom fields and goes through approval. A name registered twice is a start-up
    error.
    """


@hookspec
def before_entity_create(entity_type, values, user, session):
    """Called inside the transaction before a record of ``entity_type`` is inserted.

    ``values`` is the dict about to be written (may be changed in place). Raise
    :class:`erpkit.core.errors.ValidationError` to refuse: the API answers 422 with
    the field errors and nothing is written.
    """


@hookspec
def after_entity_create(entity_type, obj, user, session):
    """Called inside the transaction after ``obj`` was inserted (it has its id)."""


@hookspec
def before_entity_update(entity_type, obj, changes, user, session):
    """Called inside the transaction before ``changes`` (field -> new value) apply to ``obj``.

    Raise :class:`erpkit.core.errors.ValidationError` to refuse.
    """


@hookspec
def after_entity_update(entity_type, obj, changes, user, session):
    """Called inside the transaction after ``changes`` (field -> (old, new)) applied."""


@hookspec
def before_entity_delete(entity_type, obj, user, session):
    """Called inside the transaction before ``obj`` is deleted; raise to refuse."""


@hookspec
def on_event(event, erp):
    """Called after a transaction committed, once per :class:`erpkit.core.entities.Event`.

    Each implementation runs on its own: an exception is logged and the other
    implementations still run. Events of a transaction that rolled back are dropped.
    """


# -- approval ----------------------------------------------------------------------------


@hookspec(firstresult=True)
def approval_flow(entity_type, obj, user, session):
    """Return the :class:`erpkit.core.approval.models.ApprovalFlow` for submitting ``obj``.

    ``firstresult``: the first non-None answer wins; the core's default (trylast)
    picks the active flow an admin configured for the entity type. Amount conditions
    belong to the flow's steps: a step whose condition does not match is skipped. A
    plugin may return an unsaved flow built in code.
    """


@hookspec
def before_approval_decision(request, decision, user, session, erp):
    """Called before ``user`` records ``decision`` ("approve"/"reject") on ``request``.

    The decision's comment is in ``request.step.comment``. Raise
    :class:`erpkit.core.errors.ValidationError` to refuse the decision.
    """


@hookspec
def after_approval_decision(request, decision, user, session, erp):
    """Called inside the transaction after a decision; ``request.status`` tells the outcome.
    ``erp`` lets a module change records through :mod:`erpkit.core.entities`.

    Modules act here: an approved contract becomes active, an approved claim moves
    the project to its new owner, an approved return refunds and restocks.
    """


# -- documents ---------------------------------------------------------------------------


@hookspec
def register_document_templates(erp):
    """Return a list of :class:`erpkit.core.documents.DocumentTemplate` (default files)."""


@hookspec
def document_context(template, obj, user, session):
    """Return a dict merged into the rendering context of ``template`` for ``obj``."""


@hookspec(firstresult=True)
def render_document(template, context, fmt):
    """Render ``context`` with ``template`` to bytes of format ``fmt`` ("xlsx" or "docx").

    ``firstresult``: the core's openpyxl/docxtpl renderer is the ``trylast`` default,
    so a plugin may render some templates itself and return None for the others.
    ``template.source`` holds the bytes of the file to render (the admin's upload, or
    the default file).
    """


# -- import and jobs ----------------------------------------------------------------------


@hookspec
def register_import_schemas(erp):
    """Return a list of :class:`erpkit.core.importing.ImportSchema`.

    A schema names its columns (with Chinese and English header aliases), how to
    validate and convert one row, and how to write a batch of rows.
    """


@hookspec
def register_jobs(erp):
    """Return a list of :class:`erpkit.core.jobs.JobSpec`: job kinds and schedules.

    A spec with a ``schedule`` (cron-like) fires once per period across all workers.
    """


# -- UI ------------------------------------------------------------------------------------


@hookspec
def custom_fields(entity_type):
    """Return a list of :class:`erpkit.core.fields.CustomField` for ``entity_type``.

    They are stored in the entity's JSON column, validated, and shown in forms, lists,
    filters and exports, next to the fields an admin defines.
    """


@hookspec
def entity_actions(entity_type, obj, user, request):
    """Return a list of :class:`erpkit.core.entities.Action` (buttons) for a detail page.

    E.g. quotes adds "Create quote" to a customer; disabling quotes removes the button.
    """


@hookspec
def entity_panels(entity_type, obj, user, request):
    """Return a list of :class:`erpkit.core.entities.Panel` shown on a detail page."""
