"""The fan-out behind GET /v1/stream: one poller reads each alert transition once and renders its
Server-Sent Events frame once; every stream sends those same bytes.

Invariants:
- `picture` is the current `event: picture` frame, rendered once per picture ETag.
- The log holds the newest alert frames in seq order, at most `max_bytes` of them, and covers
  every seq the poller published in (`floor`, `last_seq`]. A stream inside it takes one frame at
  a time, so a stalled stream pins only the frame it is writing; a stream below `floor` (resumed
  from an old Last-Event-ID, or fallen that far behind) reads the database with `catch_up` until
  it is back inside. Memory is bounded by the log, whatever the number of streams.
- Transitions are committed by several writers (alerts instances, acks), so on PostgreSQL a later
  seq can become visible before an earlier one. The poller never passes a gap at once: it waits
  up to `GAP_GRACE_S` for the missing seq (a rolled-back insert leaves a gap forever).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from orjson import dumps
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.refresher import Refresher
from services.api.schemas import AlertOut, TransitionOut
from services.core.models import AlertRow, AlertTransitionRow

log = logging.getLogger(__name__)

BATCH = 200
CATCH_UP_BATCH = 50
GAP_GRACE_S = 1.0
LOG_BYTES = 4 << 20
RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class Frame:
    """One `event: alert` frame, ready to send, and the transition seq it carries."""

    seq: int
    data: bytes


def contiguous(seqs: Sequence[int], last: int, gap_seen: float | None, now: float) -> int:
    """How many of `seqs` (ascending, all > last) may go out now, given when a gap was seen."""
    count = 0
    for seq in seqs:
        if seq != last + 1 and (gap_seen is None or now - gap_seen < GAP_GRACE_S):
            break
        last, count, gap_seen = seq, count + 1, None
    return count


def alert_frame(transition: AlertTransitionRow, alert: AlertRow) -> Frame:
    out = TransitionOut.from_row(transition).model_dump(mode="json")
    out["alert"] = AlertOut.from_row(alert).model_dump(mode="json")
    return Frame(
        transition.seq, b"event: alert\nid: %d\ndata: %s\n\n" % (transition.seq, dumps(out))
    )


def picture_frame(body: bytes) -> bytes:
    return b"event: picture\ndata: " + body + b"\n\n"


def _seq(frame: Frame) -> int:
    return frame.seq


class Broadcast:
    """The shared picture frame and alert log; `run` keeps them current until the app stops."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        refresher: Refresher,
        *,
        poll_s: float = 15.0,
        max_bytes: int = LOG_BYTES,
    ) -> None:
        self.sessions = sessions
        self.refresher = refresher
        self.poll_s = poll_s
        self.max_bytes = max_bytes
        self.last_seq: int | None = None  # None until the poller has read where it starts
        self.floor = 0
        self.picture = b""
        self.picture_etag = ""
        self.rendered = 0  # alert frames rendered by the poller (streams share them)
        self.closing = False
        self._frames: list[Frame] = []
        self._bytes = 0
        self._gap_seen: float | None = None
        self._changed = asyncio.Event()

    # --- what streams read ---------------------------------------------------------------

    def changed(self) -> asyncio.Event:
        """An event set at the next change; take it *before* reading state, then wait on it."""
        return self._changed

    def covers(self, seq: int) -> bool:
        """Whether every frame published after `seq` is (or will be) in the log."""
        return self.last_seq is not None and seq >= self.floor

    def next_after(self, seq: int) -> Frame | None:
        """The first logged frame after `seq`, if any (only meaningful where `covers(seq)`)."""
        i = bisect.bisect_right(self._frames, seq, key=_seq)
        return self._frames[i] if i < len(self._frames) else None

    async def catch_up(self, seq: int) -> tuple[list[Frame], int]:
        """Up to CATCH_UP_BATCH frames after `seq` from the database (rendered for one stream),
        no further than the poller has published, and the seq they account for up to."""
        bound = self.last_seq
        assert bound is not None, "catch_up before the poller started"
        rows = await self._read(seq, bound, CATCH_UP_BATCH)
        frames = [alert_frame(t, a) for t, a in rows]
        return frames, frames[-1].seq if len(frames) == CATCH_UP_BATCH else bound

    async def newest_seq(self) -> int:
        """Where a stream without Last-Event-ID starts: after the newest published transition."""
        if self.last_seq is not None:
            return self.last_seq
        return await self._max_seq()

    # --- the poller --------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll on every change of the picture's token (and every `poll_s`) until cancelled or
        the refresher closes; a failing database is logged once per outage and retried."""
        failing = False
        try:
            while not self.closing and not self.refresher.closing:
                try:
                    await self._step()
                except Exception as exc:
                    if not failing:
                        log.warning("event stream poll failed", extra={"error": repr(exc)})
                    failing = True
                    await asyncio.sleep(RETRY_S)
                    continue
                if failing:
                    log.info("event stream poll recovered")
                failing = False
        finally:
            self.close()

    def close(self) -> None:
        """Tell the streams the app is stopping."""
        self.closing = True
        self._wake()

    async def _step(self) -> None:
        changed = self.refresher.changed()
        if self.last_seq is None:
            self.last_seq = self.floor = await self._max_seq()
            self._wake()
        etag = self.refresher.etag
        if etag and etag != self.picture_etag:
            self.picture, self.picture_etag = picture_frame(self.refresher.body), etag
            self._wake()
        batch = await self._read(self.last_seq, None, BATCH)
        ready = contiguous(
            [t.seq for t, _ in batch], self.last_seq, self._gap_seen, time.monotonic()
        )
        for transition, alert in batch[:ready]:
            self._append(alert_frame(transition, alert))
        if ready:
            self._wake()
        if ready < len(batch):  # a gap: look again shortly
            if ready or self._gap_seen is None:
                self._gap_seen = time.monotonic()
            await asyncio.sleep(GAP_GRACE_S / 4)
            return
        self._gap_seen = None
        if ready == BATCH:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), self.poll_s)

    def _append(self, frame: Frame) -> None:
        self._frames.append(frame)
        self._bytes += len(frame.data)
        self.last_seq = frame.seq
        self.rendered += 1
        drop = 0
        while self._bytes > self.max_bytes and drop < len(self._frames) - 1:
            self._bytes -= len(self._frames[drop].data)
            drop += 1
        if drop:
            self.floor = self._frames[drop - 1].seq
            del self._frames[:drop]

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _read(
        self, after: int, upto: int | None, limit: int
    ) -> list[tuple[AlertTransitionRow, AlertRow]]:
        stmt = (
            select(AlertTransitionRow, AlertRow)
            .join(AlertRow, AlertRow.id == AlertTransitionRow.alert_id)
            .where(AlertTransitionRow.seq > after)
            .order_by(AlertTransitionRow.seq)
            .limit(limit)
        )
        if upto is not None:
            stmt = stmt.where(AlertTransitionRow.seq <= upto)
        async with self.sessions() as session:
            return [(t, a) for t, a in (await session.execute(stmt)).all()]

    async def _max_seq(self) -> int:
        async with self.sessions() as session:
            value = await session.scalar(select(func.max(AlertTransitionRow.seq)))
            return int(value or 0)
