"""Service-level errors. Routes turn them into HTTP answers; services never know HTTP.

Messages are already translated (services call :func:`erpkit.core.i18n.gettext`
with the request's language) so the API and the UI show the same words.
"""

from __future__ import annotations

from collections.abc import Mapping


class ErpError(Exception):
    """Base class: ``status`` is the HTTP status the web layer answers with.

    ``extensions`` (a dict, optional) are extra members of the problem+json body,
    e.g. the records a duplicate warning found.
    """

    status = 400
    extensions: Mapping[str, object] | None = None

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationError(ErpError):
    """Invalid input; ``errors`` maps a field name to its message (422)."""

    status = 422

    def __init__(self, errors: Mapping[str, str] | None = None, detail: str = "") -> None:
        from erpkit.core.i18n import gettext as _

        self.errors = dict(errors or {})
        super().__init__(detail or _("Please correct the errors below."))


class NotFound(ErpError):
    status = 404


class PermissionDenied(ErpError):
    status = 403


class Conflict(ErpError):
    status = 409


class Throttled(ErpError):
    status = 429
