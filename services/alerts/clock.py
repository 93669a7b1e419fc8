"""The alerts service's two clocks: which day to judge (`as_of`) and how to stamp a transition.

- `live`: as_of is today in the gazetteer's time zone; transitions are stamped at wall time.
  Each evaluation is one step of the lifecycle at "now"; the past is never rewritten.
- `event_time`: as_of is the newest event day seen (notices' days and occurred_at, max(day) in
  daily_counts, the days already evaluated); it never goes back. Every day up to as_of is
  evaluated in order, and the evaluation of day D is stamped at the close of D (the local
  midnight that ends it, in UTC), so a replay stamps alerts on the dates they would have fired
  whatever the replay's speed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.core.settings import Clock

Now = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def day_close(day: date, tz: ZoneInfo) -> datetime:
    """The instant day `day` ends in `tz` (midnight of the next day), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)


def closed_day(stamp: datetime, tz: ZoneInfo) -> date:
    """The day whose close `stamp` is (the inverse of `day_close`)."""
    return (stamp.astimezone(tz) - timedelta(microseconds=1)).date()


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    """The day `moment` falls on in `tz` (naive moments are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).date()


class LiveClock:
    """as_of = today where the provinces are; transitions at wall time."""

    kind = Clock.live

    def __init__(self, tz: ZoneInfo, now: Now = utcnow) -> None:
        self.tz = tz
        self.now = now

    def as_of(self) -> date | None:
        return local_day(self.now(), self.tz)

    def observe(self, day: date) -> bool:
        """Event days do not move a wall clock."""
        return False

    def stamp(self, day: date) -> datetime:
        return self.now().astimezone(UTC)


class EventClock:
    """as_of = the newest event day seen; the evaluation of day D is stamped at D's close."""

    kind = Clock.event_time

    def __init__(self, tz: ZoneInfo, now: Now = utcnow) -> None:
        self.tz = tz
        self.now = now  # only for recorded_at and logs, never for stamps
        self._day: date | None = None

    def as_of(self) -> date | None:
        return self._day

    def observe(self, day: date) -> bool:
        """Move forward to `day` if it is newer; True if the clock advanced."""
        if self._day is None or day > self._day:
            self._day = day
            return True
        return False

    def stamp(self, day: date) -> datetime:
        return day_close(day, self.tz)


AlertClock = LiveClock | EventClock


def make_clock(kind: Clock, tz: ZoneInfo, now: Now = utcnow) -> AlertClock:
    return LiveClock(tz, now) if kind == Clock.live else EventClock(tz, now)
