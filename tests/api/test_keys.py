"""Who may read, publish and operate (the pure rules; routes are checked in tests/api/routes)."""

from __future__ import annotations

import pytest

from services.api.keys import Access, check_access, presented_key
from services.api.problems import Problem
from services.core.settings import load_settings


@pytest.mark.parametrize(
    ("authorization", "x_api_key", "key"),
    [
        (None, None, None),
        ("Bearer abc", None, "abc"),
        ("bearer   abc ", None, "abc"),
        ("Basic abc", None, None),
        ("Bearer", None, None),
        ("Bearer abc", "xyz", "xyz"),
        (None, "  ", None),
    ],
)
def test_presented_key(authorization: str | None, x_api_key: str | None, key: str | None) -> None:
    assert presented_key(authorization, x_api_key) == key


def status(access: Access, key: str | None, **settings: str) -> int:
    try:
        check_access(access, key, load_settings(**settings))
    except Problem as problem:
        return problem.status
    return 200


def test_reads_are_open_until_read_keys_are_set() -> None:
    assert status(Access.read, None) == 200
    assert status(Access.read, "anything") == 200
    keys = {"api_keys": "r1,r2", "publisher_keys": "p1", "operator_keys": "o1"}
    assert status(Access.read, None, **keys) == 401
    assert status(Access.read, "nope", **keys) == 403
    assert [status(Access.read, k, **keys) for k in ("r1", "r2", "p1", "o1")] == [200] * 4


def test_publisher_and_operator_are_closed_until_set_and_do_not_mix() -> None:
    assert status(Access.publisher, None) == 401
    assert status(Access.publisher, "p1") == 403
    assert status(Access.operator, "o1") == 403
    keys = {"publisher_keys": "p1", "operator_keys": "o1"}
    assert status(Access.publisher, "p1", **keys) == 200
    assert status(Access.publisher, "o1", **keys) == 403
    assert status(Access.operator, "o1", **keys) == 200
    assert status(Access.operator, "p1", **keys) == 403


def test_a_refusal_never_echoes_the_key() -> None:
    with pytest.raises(Problem) as refused:
        check_access(Access.operator, "s3cret-value", load_settings(operator_keys="o1"))
    assert "s3cret" not in refused.value.detail
