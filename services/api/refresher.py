"""The picture, computed once per change: a background task polls the change token and keeps
the serialized body and its ETag; requests serve those bytes as they are. The status page's look
back (`history`: incidents by month, the alerts that fired) is computed with it and shares its
ETag, so the page and its live fragment change when either does.

Waiters (the SSE streams) are woken on every token change, new alert transitions included.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.page.history import History
from services.api.page.history_reads import load_history
from services.api.schemas import Picture
from services.api.snapshot import ChangeToken, live_day, load_picture, read_token
from services.core.gazetteer import Gazetteer
from services.core.settings import Clock

log = logging.getLogger(__name__)

Now = Callable[[], datetime]


def strong_etag(*parts: bytes | str) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\x00")
    return f'"{digest.hexdigest()}"'


def utc_now() -> datetime:
    return datetime.now(UTC)


class Refresher:
    """Holds the current picture (`picture`, `body`, `etag`) and the token it was made from."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        gazetteer: Gazetteer,
        clock: Clock,
        *,
        now: Now = utc_now,
        interval_s: float = 0.5,
    ) -> None:
        self.sessions = sessions
        self.gazetteer = gazetteer
        self.clock = clock
        self.now = now
        self.interval_s = interval_s
        self.token: ChangeToken | None = None
        self.picture: Picture | None = None
        self.history: History | None = None
        self.body = b""
        self.etag = ""
        self.recomputed = 0  # how many times the picture was computed
        self._derived: dict[str, tuple[bytes, str]] = {}
        self.closing = False
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()

    async def current_token(self, session: AsyncSession) -> ChangeToken:
        today = live_day(self.gazetteer, self.now()) if self.clock is Clock.live else None
        return await read_token(session, today)

    async def refresh(self) -> bool:
        """Recompute the picture if the token moved; True if it did."""
        async with self._lock, self.sessions() as session:
            token = await self.current_token(session)
            if token == self.token:
                return False
            picture = await load_picture(session, self.gazetteer, self.clock, self.now())
            history = await load_history(session, self.gazetteer, picture)
        self.recomputed += 1
        # The ETag ignores `as_of`, which on the live clock is just when we computed.
        etag = strong_etag(picture.model_dump_json(exclude={"as_of"}), history.model_dump_json())
        if etag != self.etag:
            self.picture, self.body, self.etag = picture, picture.model_dump_json().encode(), etag
            self.history = history
            self._derived = {}
        self.token = token
        self._wake()
        return True

    async def run(self) -> None:
        """Poll until cancelled; a failing database is logged once per outage and retried."""
        failing = False
        while True:
            try:
                await self.refresh()
                if failing:
                    log.info("picture refresh recovered")
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("picture refresh failed", extra={"error": repr(exc)})
                failing = True
            await asyncio.sleep(self.interval_s)

    def derived(self, key: str, build: Callable[[Picture], bytes]) -> tuple[bytes, str]:
        """A body made from the current picture (one province, say), made once per change."""
        if key not in self._derived:
            assert self.picture is not None
            self._derived[key] = (build(self.picture), strong_etag(self.etag, key))
        return self._derived[key]

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def changed(self) -> asyncio.Event:
        """An event set at the next change; take it *before* reading state, then wait on it."""
        return self._changed

    def close(self) -> None:
        """Tell waiters the app is stopping."""
        self.closing = True
        self._wake()
