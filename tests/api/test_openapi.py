"""The OpenAPI document against the app itself (schemathesis): whatever a client sends, the
answer is never a 5xx and always matches the documented status codes, types and schemas.

(schemathesis's pytest plugin does not run under this pytest, so the cases are drawn with
hypothesis directly from each operation's strategy.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from services.api.app import create_app
from services.core.settings import Settings, load_settings

PUBLISHER, OPERATOR = "pub-key", "op-key"
EXAMPLES = 12
# Auth is tested route by route in tests/api/routes: schemathesis counts our valid X-API-Key
# beside its own garbage Authorization header as "ignored auth". And a schema cannot say which
# strings are cursors this api issued or names in the gazetteer: a schema-valid but unknown one
# is rightly a 400/422 problem.
NOT_APPLICABLE = [ignored_auth, positive_data_acceptance]


@pytest.fixture
def api_schema(database_url: str, topics: Settings) -> Iterator[schemathesis.BaseSchema]:
    kafka = {
        name: getattr(topics, name)
        for name in ("kafka_bootstrap", "topic_incidents", "topic_alerts")
    }
    app = create_app(
        load_settings(
            database_url=database_url,
            api_keys="read-key",
            publisher_keys=PUBLISHER,
            operator_keys=OPERATOR,
            **kafka,
        ),
        heartbeat_s=0.2,
    )
    # An event stream never ends: read its first event and hang up.
    config = SchemathesisConfig.from_dict({"max-stream-events": 1})
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    asgi.shutdown_lifespans()


def check(operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
    publishing = operation.method.upper() == "POST" and operation.path == "/v1/incidents"
    key = {"X-API-Key": PUBLISHER if publishing else OPERATOR}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=key, excluded_checks=NOT_APPLICABLE)

    run()


def test_no_server_error_and_every_response_as_documented(
    api_schema: schemathesis.BaseSchema,
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                check(operation, mode)
            except Unsatisfiable:  # no parameters: there is no negative case to make
                assert mode is GenerationMode.NEGATIVE
                assert not operation.path_parameters and not operation.query
