"""Schemathesis over /schema/openapi.json: no 5xx, no response that breaks the schema.

Runs as the admin (every operation is reachable) with a bounded number of examples
per operation, on SQLite by default and on PostgreSQL in CI's second run.
"""

from __future__ import annotations

import pytest
import schemathesis
from conftest import ADMIN_PASSWORD, TEST_PLUGINS, fresh_database_url, token_for
from hypothesis import HealthCheck, given, settings
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
from erpkit.core.settings import Settings

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


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
        erp = build_erp(s, None, TEST_PLUGINS)
        migrate.upgrade(erp)
        app = assemble(erp)
        with TestClient(app) as client:  # runs start-up: admin, grants
            headers = token_for(client, "admin", ADMIN_PASSWORD)
            yield app, headers
        erp.engine.dispose()


def test_api_never_fails_and_keeps_its_schema(fuzz_target):
    app, headers = fuzz_target
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    failures = []
    calls: list[str] = []
    for operation in operations:
        run = _fuzzer(operation, headers, calls)
        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # every operation was really exercised, most of them many times
    assert {op.label for op in operations} == set(calls)
    assert len(calls) >= 5 * len(operations)


def _fuzzer(operation, headers, calls):
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        calls.append(operation.label)
        # Business rules may refuse schema-valid data (422/409): that is not a defect,
        # so "positive data acceptance" is left out; the rest must hold.
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run
