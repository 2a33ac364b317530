"""Schemathesis over /schema/openapi.json: no 5xx, no response that breaks the schema.

One app with every built-in business module (the plugins under ``erpkit/plugins``
installed as entry points, read from there: a new module is fuzzed without touching this
file) and the test plugins, as the admin (every operation is reachable), on SQLite by
default and on PostgreSQL in CI's second run.

A little data is seeded first (a user, a customer with a contact and a follow-up, a
project with a member and a competitor, a project in the public pool with a claim), and
half of the generated ids (path, query and body ``*_id``) are steered to existing rows,
so that ``{id}`` routes reach the code behind the 404 too. String path parameters that
name something registered (entity types, import schemas, option lists) are steered the
same way. Operations run creating first, deleting last, so that deletes do not empty the
rows the others need.

Budget: ``MAX_EXAMPLES`` = 25 examples per operation, about 100 operations: 34 s on
SQLite and 38 s on PostgreSQL on the shared two-core machine (load 3.5), start-up and
seeding included. Set ``ERPKIT_FUZZ_EXAMPLES`` for a deeper run by hand.
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from conftest import ADMIN_PASSWORD, TEST_PLUGINS, fresh_database_url, token_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from erpkit.core import migrate
from erpkit.core.app import assemble, build_erp
from erpkit.core.plugins import discover
from erpkit.core.settings import Settings

#: examples per operation; ERPKIT_FUZZ_EXAMPLES=300 for a deeper run by hand
MAX_EXAMPLES = int(os.environ.get("ERPKIT_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
_PARAM = re.compile(r"\{[^}]*\}")
#: creating first, deleting last
METHOD_ORDER = {"POST": 0, "PUT": 1, "PATCH": 2, "GET": 3, "DELETE": 4}


def builtin_plugins() -> list[str]:
    """The business modules shipped in erpkit/plugins that are installed as entry points."""
    return sorted(
        p.name for p in discover().values() if p.module.__name__.startswith("erpkit.plugins.")
    )


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    with fresh_database_url() as url:
        s = Settings(
            data_dir=tmp_path_factory.mktemp("fuzz"),
            database_url=url,
            admin_password=ADMIN_PASSWORD,
            secret_key="fuzz-secret",
            login_max_failures=100000,
        )
        plugins = builtin_plugins() + [m.MANIFEST["name"] for m in TEST_PLUGINS]
        erp = build_erp(s, plugins, TEST_PLUGINS)
        migrate.upgrade(erp)
        app = assemble(erp)
        with TestClient(app) as client:  # runs start-up: admin, grants
            headers = token_for(client, "admin", ADMIN_PASSWORD)
            ids = seed(client, headers, erp)
            yield app, headers, ids, hints(erp)
        erp.engine.dispose()


def seed(client: TestClient, headers: dict[str, str], erp) -> dict[str, list[int]]:
    """Rows for the ids to point at: made through the API, as a user would."""

    def post(path: str, body: dict, as_: dict[str, str] = headers) -> dict:
        r = client.post(path, json=body, headers=as_)
        assert r.status_code in (200, 201), f"seeding {path}: {r.status_code} {r.text}"
        return r.json()

    admin_id = client.get("/api/v1/me", headers=headers).json()["id"]
    ids: dict[str, list[int]] = {"user_id": [admin_id]}
    if erp.pm.is_enabled("customers"):
        sales = post(
            "/api/v1/users",
            {
                "username": "fuzz-sales",
                "password": "fuzz-pass-123",
                "roles": ["salesperson"],
                "superior_id": admin_id,
            },
        )
        ids["user_id"].append(sales["id"])
        c = post("/api/v1/customers", {"name": "华东家具有限公司", "phone": "13800138000"})
        contact = post(f"/api/v1/customers/{c['id']}/contacts", {"name": "李四"})
        post(f"/api/v1/customers/{c['id']}/follow-ups", {"content": "电话沟通"})
        ids["customer_id"] = [c["id"]]
        ids["contact_id"] = [contact["id"]]
    if erp.pm.is_enabled("projects"):
        cid = ids["customer_id"][0]
        p = post("/api/v1/projects", {"customer_id": cid, "name": "办公家具采购"})
        pool = post(
            "/api/v1/projects", {"customer_id": cid, "name": "会议室改造", "owner_id": None}
        )
        post(f"/api/v1/projects/{p['id']}/members", {"user_id": ids["user_id"][1]})
        comp = post(f"/api/v1/projects/{p['id']}/competitors", {"name": "某竞品", "price": "99.50"})
        salesperson = token_for(client, "fuzz-sales", "fuzz-pass-123")
        claim = post(f"/api/v1/projects/{pool['id']}/claim", {"reason": "老客户"}, salesperson)
        ids["project_id"] = [p["id"], pool["id"]]
        ids["competitor_id"] = [comp["id"]]
        ids["request_id"] = [claim["approval_request_id"]]
    return ids


def hints(erp) -> dict[str, list[str]]:
    """String path parameters that name something registered, by parameter name."""
    named = erp.registry.named
    return {
        "entity_type": sorted(named.get("entity type", {})),
        "schema": sorted(named.get("import schema", {})),
        "code": sorted(erp.registry.option_lists),
    }


def test_api_never_fails_and_keeps_its_schema(fuzz_target):
    app, headers, ids, names = fuzz_target
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, headers=headers)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: (METHOD_ORDER.get(op.method.upper(), 9), op.path),
    )
    # every API route of every built-in module is an operation of the document
    fuzzed = {(op.method.upper(), _PARAM.sub("{}", op.path)) for op in operations}
    owned = app.state.erp.registry.routes  # (method, path shape) -> plugin
    builtin = builtin_plugins()
    assert {"customers", "projects"} <= set(builtin) <= set(app.state.erp.pm.enabled)
    for plugin in builtin:
        api = {r for r, owner in owned.items() if owner == plugin and r[1].startswith("/api/")}
        assert api, f"plugin {plugin!r} has no API routes"
        assert api <= fuzzed, f"{plugin}: not in the OpenAPI document: {sorted(api - fuzzed)}"

    failures = []
    calls: list[str] = []
    for operation in operations:
        run = _fuzzer(operation, headers, calls, ids, names)
        try:
            run()
        # collect every operation's failure, then report (schemathesis raises a
        # BaseExceptionGroup when one operation fails in several ways)
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # every operation was really exercised, most of them many times
    assert {op.label for op in operations} == set(calls)
    assert len(calls) >= 5 * len(operations)


#: boundary values for text fields that carry a date or a number (by field name), which
#: random text almost never hits
EDGE_DATES = ["0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29", "20240101", ""]
EDGE_NUMBERS = ["0", "-1", "0.001", "1e3", "1e400", "NaN", "-Infinity", "1,000.5", "9" * 40]
NUMBER_WORDS = ("amount", "price", "qty", "quantity", "rate", "cost", "total", "discount")


def _steer(case, data, ids: dict[str, list[int]], names: dict[str, list[str]]) -> None:
    """Point about half of the ids (and registered names) at existing rows, and half of
    the date and number text at boundary values."""
    every_id = sorted({i for values in ids.values() for i in values} | {1, 2})

    def value_for(name: str, value):
        if not data.draw(st.booleans()):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and name.endswith("_id"):
            return data.draw(st.sampled_from(ids.get(name) or every_id))
        if isinstance(value, str) and "date" in name:
            return data.draw(st.sampled_from(EDGE_DATES))
        if isinstance(value, str) and any(w in name for w in NUMBER_WORDS):
            return data.draw(st.sampled_from(EDGE_NUMBERS))
        return value

    if case.path_parameters:
        params = dict(case.path_parameters)
        for name, value in params.items():
            if isinstance(value, str) and names.get(name) and data.draw(st.booleans()):
                params[name] = data.draw(st.sampled_from(names[name]))
            else:
                params[name] = value_for(name, value)
        case.path_parameters = params
    if case.query:
        case.query = {name: value_for(name, value) for name, value in case.query.items()}
    if isinstance(case.body, dict):
        case.body = {name: value_for(name, value) for name, value in case.body.items()}


def _fuzzer(operation, headers, calls, ids, names):
    @given(case=operation.as_strategy(), data=st.data())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case, data):
        calls.append(operation.label)
        _steer(case, data, ids, names)
        # Business rules may refuse schema-valid data (422/409): that is not a defect,
        # so "positive data acceptance" is left out; the rest must hold.
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run
