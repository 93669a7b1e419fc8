"""API keys: who may read, publish and operate.

A key comes as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Reads are open while
`SURGEWATCH_API_KEYS` is unset; once set, a read needs one of those keys (or a publisher or
operator key). Publisher and operator routes are closed while their variable is unset. Keys are
compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from enum import StrEnum

from pydantic import SecretStr

from services.api.problems import Problem
from services.core.settings import Settings

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="surgewatch"'}


class Access(StrEnum):
    read = "read"
    publisher = "publisher"
    operator = "operator"


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key a request carries, or None. A malformed Authorization header counts as none."""
    if x_api_key:
        return x_api_key.strip() or None
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def allowed_keys(access: Access, settings: Settings) -> tuple[SecretStr, ...] | None:
    """The keys that grant `access`; None means the access is open to anyone."""
    if access is Access.read:
        if not settings.api_keys:
            return None
        return settings.api_keys + settings.publisher_keys + settings.operator_keys
    if access is Access.publisher:
        return settings.publisher_keys
    return settings.operator_keys


def is_one_of(key: str, allowed: Iterable[SecretStr]) -> bool:
    """Constant-time membership: every candidate is compared, whatever matches first."""
    presented = key.encode()
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(presented, candidate.get_secret_value().encode())
    return found


def check_access(access: Access, key: str | None, settings: Settings) -> None:
    """Raise a 401 problem without a key, 403 with a key that does not grant `access`."""
    allowed = allowed_keys(access, settings)
    if allowed is None:
        return
    if key is None:
        raise Problem(
            401,
            f"this route needs {_an(access)} key (Authorization: Bearer <key> or X-API-Key)",
            kind="key-required",
            headers=CHALLENGE,
        )
    if not allowed or not is_one_of(key, allowed):
        raise Problem(403, f"the key presented is not {_an(access)} key", kind="key-refused")


def _an(access: Access) -> str:
    return f"an {access}" if access is Access.operator else f"a {access}"
