"""`surgewatch replay`: publish a file (jsonl, csv, gtd, acled) or the demo feed to `incidents`.

Every row is checked with the real `parse` first; bad rows are skipped and reported with their
line numbers, the rest is published (paced by `--rate`, else in batches) and flushed. Exit codes:
0 done (skipped rows are reported, not fatal), 1 Kafka failed, 2 the input cannot be read at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.core.gazetteer import load_gazetteer
from services.core.kafka import KafkaNotConfigured
from services.core.settings import Settings
from services.feeds import demo
from services.feeds.check import prepare
from services.feeds.importers import DEFAULT_SOURCES, FORMATS, FileFormatError
from services.feeds.items import Candidate, Item
from services.feeds.sender import send_all
from services.feeds.summary import Summary

HEADER_LINES = {"jsonl": 0, "csv": 1, "gtd": 1, "acled": 1}


def main(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(run(settings, args))


async def run(
    settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """The command: returns the exit code, prints the summary on `out`."""
    if args.demo == (args.file is not None):
        print("surgewatch replay: give a FILE (with --format) or --demo, not both", file=err)
        return 2
    try:
        items, total = await asyncio.to_thread(_load, args)
    except (OSError, FileFormatError) as exc:
        print(f"surgewatch replay: {exc}", file=err)
        return 2
    summary = await replay(settings, items, rate=args.rate, total=total, console=Console(file=err))
    print(summary.render(settings.topic_incidents), file=out)
    return 1 if summary.failure else 0


async def replay(
    settings: Settings,
    items: Iterable[Item],
    *,
    rate: float = 0,
    total: int | None = None,
    console: Console | None = None,
) -> Summary:
    """Check and publish `items`; a Kafka failure is recorded in `Summary.failure`, not raised."""
    gazetteer = load_gazetteer(settings.gazetteer_file)
    summary = Summary()
    with _progress(total, console or Console(stderr=True)) as advance:
        messages = prepare(_tracked(items, advance), gazetteer, datetime.now(UTC), summary)
        try:
            await send_all(settings, messages, summary, rate)
        except (KafkaError, KafkaNotConfigured, OSError) as exc:
            summary.failure = f"Kafka: {exc}"
    return summary


async def replay_file(
    settings: Settings, path: Path, fmt: str, source: str | None = None, rate: float = 0
) -> Summary:
    """Publish one file (raises OSError or FileFormatError if it cannot be read at all)."""
    data = await asyncio.to_thread(path.read_bytes)
    return await replay(settings, FORMATS[fmt](data, source or DEFAULT_SOURCES[fmt]), rate=rate)


async def replay_demo(settings: Settings, seed: int = 2024, rate: float = 0) -> Summary:
    """Publish the demo feed (what `surgewatch replay --demo` and `surgewatch dev` do)."""
    return await replay(settings, demo_items(seed), rate=rate)


def _load(args: argparse.Namespace) -> tuple[Iterable[Item], int]:
    """The items to replay and how many input lines they come from (for the progress bar)."""
    if args.demo:
        items = demo_items(args.seed)
        return items, len(items)
    data = Path(args.file).read_bytes()
    lines = data.count(b"\n") + (not data.endswith(b"\n")) - HEADER_LINES[args.format]
    return FORMATS[args.format](data, args.source or DEFAULT_SOURCES[args.format]), max(lines, 0)


def demo_items(seed: int) -> list[Item]:
    return [Candidate(n, event) for n, event in enumerate(demo.generate(seed), start=1)]


def _tracked(items: Iterable[Item], advance: Callable[[], None]) -> Iterator[Item]:
    for item in items:
        yield item
        advance()


@contextmanager
def _progress(total: int | None, console: Console) -> Iterator[Callable[[], None]]:
    """A rich progress bar on a terminal; silent elsewhere (the summary says what happened)."""
    progress = Progress(
        TextColumn("replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("replay", total=total)
        yield lambda: progress.advance(task)
