"""`surgewatch publish`: one incident (or its retraction) from flags or from JSON on stdin.

Flags build the `data` object (a missing --id gets a fresh one); without incident flags the
command reads stdin: a CloudEvent (published as it is) or a bare `data` object (wrapped, as a
retraction with --retract). The event is checked with `parse`, published, and its CloudEvents id
printed. Exit codes: 0 published, 1 Kafka failed, 2 bad input (nothing published).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from aiokafka.errors import KafkaError

from services.core.gazetteer import load_gazetteer
from services.core.kafka import KafkaNotConfigured
from services.core.settings import Settings
from services.feeds import envelope
from services.feeds.check import check
from services.feeds.items import Candidate, Skip
from services.feeds.sender import send_all
from services.feeds.summary import Summary

FIELDS = (
    "id", "version", "occurred_at", "province", "district", "category", "target", "perpetrator",
    "killed", "injured", "summary", "url",
)  # fmt: skip


class UsageError(ValueError):
    """The command line and stdin do not describe one event."""


def main(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(run(settings, args, stdin=None if sys.stdin.isatty() else sys.stdin))


async def run(
    settings: Settings,
    args: argparse.Namespace,
    stdin: TextIO | None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    now = datetime.now(UTC)
    try:
        event = build_event(args, stdin.read() if stdin and not _has_flags(args) else None, now)
    except UsageError as exc:
        print(f"surgewatch publish: {exc}", file=err)
        return 2
    checked = check(Candidate(1, event), load_gazetteer(settings.gazetteer_file), now)
    if isinstance(checked, Skip):
        print(f"surgewatch publish: rejected ({checked.reason}): {checked.detail}", file=err)
        return 2
    summary = Summary()
    try:
        await send_all(settings, [checked], summary)
    except (KafkaError, KafkaNotConfigured, OSError) as exc:
        print(f"surgewatch publish: Kafka failed: {exc}", file=err)
        return 1
    print(event.get("id"), file=out)
    return 0


def build_event(args: argparse.Namespace, stdin_text: str | None, now: datetime) -> dict[str, Any]:
    """The CloudEvent the flags, or else the JSON on stdin, describe (raises `UsageError`)."""
    if args.retract and args.id:
        return envelope.retracted(args.source, args.id, args.reason, time=now)
    if _has_flags(args):
        if args.retract:
            raise UsageError("--retract needs --id (or a JSON object on stdin)")
        data = {name: getattr(args, name) for name in FIELDS if getattr(args, name) is not None}
        data.setdefault("id", uuid.uuid4().hex)
        if args.lat is not None or args.lon is not None:
            data["location"] = {"lat": args.lat, "lon": args.lon}
        return envelope.reported(args.source, data, time=now)
    if not stdin_text or not stdin_text.strip():
        raise UsageError("give the incident as flags (--province, --category …) or JSON on stdin")
    try:
        obj = orjson.loads(stdin_text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"stdin is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise UsageError("stdin must hold one JSON object (a CloudEvent or its data)")
    if args.retract and args.reason and "specversion" not in obj:
        obj.setdefault("reason", args.reason)
    return envelope.wrap(obj, args.source, retract=args.retract, time=now)


def _has_flags(args: argparse.Namespace) -> bool:
    return any(getattr(args, name) is not None for name in (*FIELDS, "lat", "lon"))
