"""The OpenAPI document tells the truth about errors: every API operation may answer
with ``application/problem+json`` for the statuses below (RFC 9457), and nothing else.

It also tells the truth about request bodies: Litestar's schemas of msgspec structs
lose some bounds that msgspec enforces (those of list items, and bounds that are 0,
so ``sort >= 0`` was documented as any integer), so a body a client builds from the
document could be refused with 400. The bodies' schemas are therefore msgspec's own
(``msgspec.json.schema_components``), which are the rules the decoder applies.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import (
    Discriminator,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)

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


def _strict_structs() -> dict[str, list[type]]:
    """Request bodies (structs that refuse unknown fields) by class name."""
    found: dict[str, list[type]] = {}
    todo = list(msgspec.Struct.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__struct_config__.forbid_unknown_fields:
            found.setdefault(cls.__name__, []).append(cls)
    return found


#: JSON Schema keyword -> attribute of Litestar's Schema ("maxLength" -> max_length)
_ATTRIBUTES = {f.metadata.get("alias", f.name): f.name for f in dataclasses.fields(Schema)}
_ONE = {"items", "additionalProperties", "not", "propertyNames", "contains"}
_MANY = {"anyOf", "oneOf", "allOf", "prefixItems"}


def _openapi(node: Any) -> Any:
    """A JSON Schema dict (msgspec's) as Litestar's OpenAPI objects."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return Reference(ref=node["$ref"])
    values: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            value = {k: _openapi(v) for k, v in value.items()}
        elif key in _ONE:
            value = _openapi(value)
        elif key in _MANY:
            value = [_openapi(v) for v in value]
        elif key == "type":
            value = (
                OpenAPIType(value) if isinstance(value, str) else [OpenAPIType(v) for v in value]
            )
        elif key == "discriminator":
            value = Discriminator(value["propertyName"], value.get("mapping"))
        values[_ATTRIBUTES[key]] = value  # an unknown keyword: KeyError, kept out below
    return Schema(**values)


def _msgspec_schema(candidates: list[type], litestar: Schema, known: set[str]) -> Schema | None:
    """msgspec's schema of the one struct that Litestar documented under this name (same
    fields), when every struct it refers to is documented under the same name too."""
    fields = set(litestar.properties or {})
    matching = [c for c in candidates if set(c.__struct_fields__) == fields]
    if len(matching) != 1:
        return None
    cls = matching[0]
    try:
        _, defs = msgspec.json.schema_components([cls], ref_template="#/components/schemas/{name}")
        if set(defs) - {cls.__name__} - known:
            return None
        schema = _openapi(defs[cls.__name__])
    except (KeyError, TypeError, ValueError):  # a shape this module does not convert
        return None
    schema.title = litestar.title
    schema.description = litestar.description or schema.description
    return schema


def document_problems(app: Litestar) -> None:
    """Add the problem responses to every operation of the app's OpenAPI document,
    and document request bodies with msgspec's schemas (every bound, and
    ``additionalProperties: false`` where a body refuses unknown fields)."""
    openapi = app.openapi_schema
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    strict = _strict_structs()
    components = openapi.components.schemas
    known = set(components)
    for name, schema in list(components.items()):
        if name in strict and isinstance(schema, Schema):
            better = _msgspec_schema(strict[name], schema, known)
            if better is not None:
                components[name] = better
            else:
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
