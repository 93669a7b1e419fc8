"""Reading Server-Sent Events in tests: a parser of the stream's lines and waits on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Event:
    event: str = "message"
    id: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)


async def events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    current = Event()
    async for line in lines:
        if line == "":
            yield current
            current = Event()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                current.event = value
            elif name == "id":
                current.id = value
            elif name == "data":
                current.data += value


async def next_of(stream: AsyncIterator[Event], kind: str) -> Event:
    async def find() -> Event:
        async for event in stream:
            if event.event == kind or (kind == "comment" and event.comments):
                return event
        raise AssertionError("stream ended")

    return await asyncio.wait_for(find(), 5.0)


async def collect(stream: AsyncIterator[Event], kinds: set[str]) -> dict[str, Event]:
    """The first event of each kind, in whatever order they come."""
    found: dict[str, Event] = {}

    async def gather() -> None:
        async for event in stream:
            if event.event in kinds and event.event not in found:
                found[event.event] = event
                if len(found) == len(kinds):
                    return

    await asyncio.wait_for(gather(), 5.0)
    return found
