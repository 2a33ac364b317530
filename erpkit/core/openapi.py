"""The OpenAPI document tells the truth about errors: every API operation may answer
with ``application/problem+json`` for the statuses below (RFC 9457), and nothing else.
"""

from __future__ import annotations

import msgspec
from litestar import Litestar
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema

PROBLEM_STATUSES = {
    400: "The request does not match the schema (malformed JSON, wrong types, bounds).",
    401: "Not signed in, or wrong credentials.",
    403: "Signed in, but not allowed (permission, CSRF).",
    404: "No such record, or not visible to this user.",
    405: "Method not allowed.",
    409: "Conflicts with the current state (duplicate, already decided, approved).",
    413: "Request body too large.",
    422: "Values break a business rule; ``errors`` names the fields.",
    429: "Too many attempts; see Retry-After.",
}

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "message"],
                properties={
                    "field": Schema(type=OpenAPIType.STRING),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)

_METHODS = ("get", "put", "post", "delete", "patch")


def _strict_structs() -> dict[str, type]:
    found: dict[str, type] = {}
    todo = list(msgspec.Struct.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__struct_config__.forbid_unknown_fields:
            found[cls.__name__] = cls
    return found


def document_problems(app: Litestar) -> None:
    """Add the problem responses to every operation of the app's OpenAPI document,
    and say ``additionalProperties: false`` where a body refuses unknown fields."""
    openapi = app.openapi_schema
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    strict = _strict_structs()
    for name, schema in openapi.components.schemas.items():
        if name in strict and isinstance(schema, Schema):
            schema.additional_properties = False
    openapi.components.schemas["Problem"] = PROBLEM_SCHEMA
    ref = Reference(ref="#/components/schemas/Problem")
    for path, item in (openapi.paths or {}).items():
        for method in _METHODS:
            operation = getattr(item, method, None)
            if operation is None:
                continue
            responses = operation.responses or {}
            for status, description in PROBLEM_STATUSES.items():
                if path == "/healthz" and status != 405:
                    continue
                responses[str(status)] = OpenAPIResponse(
                    description=description,
                    content={"application/problem+json": OpenAPIMediaType(schema=ref)},
                )
            operation.responses = responses
