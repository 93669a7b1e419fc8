"""`surgewatch`: the one console script. Each command hands off to the module that owns it."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.core.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgewatch",
        description="Monitor Pakistan's internal security picture: ingest, surge alerts, API.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="the whole stack on this machine, with a demo feed")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000, help="api and status page port")
    dev.add_argument("--no-demo", action="store_true", help="start without the demo feed")
    dev.add_argument("--rate", type=float, default=0, help="demo events/s (0: full speed)")

    sub.add_parser("ingest", help="the ingest service (Kafka `incidents` → database)")
    sub.add_parser("alerts", help="the alerts service (surges → alerts)")
    api = sub.add_parser("api", help="the HTTP API and status page")
    api.add_argument("--host", default="0.0.0.0")
    api.add_argument("--port", type=int, default=8000)

    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="run Alembic migrations to the newest schema")

    replay = sub.add_parser("replay", help="publish a file, or the demo feed, to `incidents`")
    replay.add_argument("file", nargs="?", type=Path)
    replay.add_argument("--format", choices=["jsonl", "csv", "gtd", "acled"], default="jsonl")
    replay.add_argument("--demo", action="store_true", help="the seeded demo feed 2022–2024")
    replay.add_argument("--source", help="CloudEvents source for the events (default by format)")
    replay.add_argument("--rate", type=float, default=0, help="events per second (0: no limit)")
    replay.add_argument("--seed", type=int, default=2024, help="demo feed seed")

    publish = sub.add_parser("publish", help="publish one incident (flags, or JSON on stdin)")
    publish.add_argument("--source", default="surgewatch/cli")
    publish.add_argument("--id")
    publish.add_argument("--version", type=int)
    publish.add_argument("--occurred-at")
    publish.add_argument("--province")
    publish.add_argument("--district")
    publish.add_argument("--lat", type=float)
    publish.add_argument("--lon", type=float)
    publish.add_argument("--category")
    publish.add_argument("--target")
    publish.add_argument("--perpetrator")
    publish.add_argument("--killed", type=int)
    publish.add_argument("--injured", type=int)
    publish.add_argument("--summary")
    publish.add_argument("--url")
    publish.add_argument("--retract", action="store_true", help="publish incident.retracted")
    publish.add_argument("--reason", help="retraction reason")

    broker = sub.add_parser("broker", help="run the embedded Kafka-compatible broker alone")
    broker.add_argument("--host", default="127.0.0.1")
    broker.add_argument("--port", type=int, default=9092)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A SIGTERM while the service is still importing and connecting (an orchestrator scaling
    # down at once) ends it cleanly: nothing has been done that needs undoing. Each service
    # installs its own graceful handler once it runs. The heavy imports come after this.
    signal.signal(signal.SIGTERM, _stopped_early)
    from services.core.logging import configure_logging
    from services.core.settings import SettingsError, load_settings

    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"surgewatch: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return 130


def _stopped_early(signum: int, frame: FrameType | None) -> None:
    # Like the signal's default action, at once: every service is safe to kill at any instant
    # (the database transaction is the commit), but this one stopped on request, so 0. Raising
    # SystemExit instead would unwind through half-made clients, and a worker thread of one of
    # them (aiosqlite's are not daemons) could then keep the process alive.
    os._exit(0)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command: str = args.command
    if command == "db":
        from services.core.migrate import upgrade

        upgrade(settings.database_url)
        print(f"database at head: {_redact(settings.database_url)}")
        return 0
    if command == "ingest":
        from services.ingest.__main__ import run as run_ingest

        return asyncio.run(run_ingest(settings))
    if command == "alerts":
        from services.alerts.__main__ import run as run_alerts

        return asyncio.run(run_alerts(settings))
    if command == "api":
        from services.api.__main__ import run as run_api

        return run_api(settings, args.host, args.port)
    if command == "dev":
        from services.devstack import run as run_dev

        return asyncio.run(run_dev(settings, args))
    if command == "replay":
        from services.feeds.replay import main as run_replay

        return run_replay(settings, args)
    if command == "publish":
        from services.feeds.publish import main as run_publish

        return run_publish(settings, args)
    if command == "broker":
        return _run_broker(args.host, args.port)
    raise AssertionError(command)


def _run_broker(host: str, port: int) -> int:
    import signal

    from services.core.broker import start_broker

    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    with start_broker(port=port, host=host) as broker:
        print(f"embedded broker on {broker.bootstrap} (memory only: a restart loses everything)")
        signal.sigwait(stop)
    return 0


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


if __name__ == "__main__":
    sys.exit(main())
