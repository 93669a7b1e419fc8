"""The picture, computed once per change: a background task polls the change token and keeps
the serialized body and its ETag; requests serve those bytes as they are. The status page's look
back (`history`: incidents by month, the alerts that fired) is computed with it and shares its
ETag, so the page and its live fragment change when either does.

Waiters (the SSE streams) are woken on every recomputation, new alert transitions included.

How fresh, at what cost: the token is read every `POLL_S` (one round trip over small tables,
~1 ms), so a change shows within a tenth of a second plus the recomputation. Under a steady
stream of changes (ingest commits a batch every few tens of ms) that would mean recomputing back
to back, and on a large database a recomputation costs tens of ms of the database. So:
- after a recomputation the next waits as long as recomputations take (`COST_FACTOR` times their
  moving average, so one slow query does not stall the next), at least `POLL_S`: the refresher
  spends about half its time recomputing at most, and a change after a quiet spell is taken at
  the next poll;
- the look back (months of counts, the costlier half on a large database) is recomputed with
  the picture at most every `HISTORY_EVERY_S` while changes keep coming, and at the first poll
  after that once they stop. `refresh()` called directly brings both up to date.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
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

POLL_S = 0.1
COST_FACTOR = 1.0  # wait as long as a recomputation takes before the next: at most half the time
COST_SMOOTHING = 0.25  # weight of the latest recomputation in the moving average of their cost
HISTORY_EVERY_S = 2.0


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
        interval_s: float = POLL_S,
        cost_factor: float = COST_FACTOR,
        history_every_s: float = HISTORY_EVERY_S,
    ) -> None:
        self.sessions = sessions
        self.gazetteer = gazetteer
        self.clock = clock
        self.now = now
        self.interval_s = interval_s
        self.cost_factor = cost_factor
        self.cost_s = 0.0  # moving average of a recomputation's wall time
        self.history_every_s = history_every_s
        self.token: ChangeToken | None = None  # what the picture was made from
        self.picture: Picture | None = None
        self.history: History | None = None
        self.history_token: ChangeToken | None = None
        self._history_at = -math.inf  # time.monotonic() of the last look back
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

    async def refresh(self, *, history: bool = True) -> bool:
        """Recompute what the token's move made stale: the picture, and the look back unless
        `history` is False (it is recomputed anyway while there is none); True if anything was."""
        async with self._lock, self.sessions() as session:
            token = await self.current_token(session)
            redo_picture = token != self.token or self.picture is None
            redo_history = (history or self.history is None) and token != self.history_token
            if not (redo_picture or redo_history):
                return False
            picture = self.picture
            if redo_picture or picture is None:
                picture = await load_picture(session, self.gazetteer, self.clock, self.now())
            look_back = self.history
            if redo_history or look_back is None:
                look_back = await load_history(session, self.gazetteer, picture)
        if redo_picture:
            self.recomputed += 1
            self.token = token
        if redo_history:
            self.history_token, self._history_at = token, time.monotonic()
        # The ETag ignores `as_of`, which on the live clock is just when we computed.
        etag = strong_etag(picture.model_dump_json(exclude={"as_of"}), look_back.model_dump_json())
        if etag != self.etag:
            self.picture, self.body, self.etag = picture, picture.model_dump_json().encode(), etag
            self.history = look_back
            self._derived = {}
        self._wake()
        return True

    def history_due(self) -> bool:
        return time.monotonic() - self._history_at >= self.history_every_s

    async def run(self) -> None:
        """Poll until cancelled; a failing database is logged once per outage and retried."""
        failing = False
        while True:
            pause = self.interval_s
            try:
                started = time.monotonic()
                if await self.refresh(history=self.history_due()):
                    pause = self.pause_after(time.monotonic() - started)
                if failing:
                    log.info("picture refresh recovered")
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("picture refresh failed", extra={"error": repr(exc)})
                failing = True
            await asyncio.sleep(pause)

    def pause_after(self, recomputed_in: float) -> float:
        """How long to wait after a recomputation that took `recomputed_in` seconds."""
        self.cost_s += COST_SMOOTHING * (recomputed_in - self.cost_s)
        return max(self.interval_s, self.cost_factor * self.cost_s)

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
