"""The `whistle` command line: run, demo, org check|import, invite, backup."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from bot.clock import SystemClock
from bot.organisation import OrganisationInvalid, load_organisation
from bot.permissions import Role
from bot.services import Refused, build_services
from bot.settings import Settings, SettingsError, load_settings
from storage.db import Database


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whistle", description="街巷吹哨、部门报到 — grid issue reporting bot"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (long polling) until SIGINT or SIGTERM")
    demo = commands.add_parser("demo", help="play the whole loop offline (no token, no network)")
    demo.add_argument("--keep", type=Path, help="keep the demo database in this folder")
    demo.add_argument("--quiet", action="store_true", help="print only the timelines")
    org = commands.add_parser("org", help="check or import the organisation file")
    org.add_argument("action", choices=["check", "import"])
    org.add_argument("file", type=Path)
    invite = commands.add_parser("invite", help="make a one-time invite code")
    invite.add_argument("role", choices=[r.value for r in Role])
    invite.add_argument("--grid", default="")
    invite.add_argument("--department", default="")
    stats = commands.add_parser("stats", help="weekly response statistics, as of now")
    stats.add_argument("--week", help="2026-W47, or 'last'; default: this week so far")
    stats.add_argument("--format", choices=["text", "json", "csv", "xlsx", "png"], default="text")
    stats.add_argument("--output", type=Path, help="write here instead of standard output")
    stats.add_argument("--department", help="only this department (its code)")
    backup = commands.add_parser("backup", help="a consistent copy of the live database")
    backup.add_argument("path", type=Path)
    return parser


async def _run(settings: Settings) -> None:
    """Start, run until SIGINT or SIGTERM, stop. A signal that comes while the bot is still
    starting (waiting for an unreachable Bot API, say) stops it too."""
    from bot.app import Whistle

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    whistle = Whistle(settings)
    starting = asyncio.create_task(whistle.start())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            logging.getLogger("whistle").info("Whistle is running; Ctrl+C stops it")
            await stopping
    finally:
        for task in (starting, stopping):
            task.cancel()
        await asyncio.gather(starting, stopping, return_exceptions=True)
        await whistle.stop()


async def _org(settings: Settings, action: str, path: Path) -> int:
    try:
        org = load_organisation(path)
    except OrganisationInvalid as invalid:
        print(f"{path}: {len(invalid.errors)} error(s)", file=sys.stderr)
        for error in invalid.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    if action == "check":
        print(
            f"{path}: OK — {len(org.departments)} departments, {len(org.categories)} "
            f"categories, {len(org.grids)} grids, {len(org.shifts)} duty shifts"
        )
        return 0
    async with Database(settings.database) as db:
        svc = build_services(settings, SystemClock(), db)
        summary = await svc.organisations.import_file(path)
    if summary.unchanged:
        print(f"{path}: imported, nothing changed")
    else:
        for label, entries in (
            ("added", summary.added),
            ("changed", summary.changed),
            ("retired", summary.retired),
        ):
            for entry in entries:
                print(f"{label}: {entry}")
    return 0


async def _invite(settings: Settings, role: str, grid: str, department: str) -> int:
    async with Database(settings.database) as db:
        svc = build_services(settings, SystemClock(), db)
        try:
            code = await svc.people.create_invite(Role(role), grid or department, None)
        except Refused as refused:
            print(f"cannot make that invite: {refused.key} {refused.values}", file=sys.stderr)
            return 1
    print(code)
    print(
        f"The person sends /start {code} to the bot (valid {settings.invite_days} days, "
        f"single use)."
    )
    return 0


async def _stats(
    settings: Settings, week: str | None, form: str, department: str | None
) -> bytes | None:
    """The statistics in the asked form, or None (after saying why) for a bad week."""
    from bot.i18n import strip_markup
    from bot.services.statistics import Scope
    from bot.stats_views import report_chart, report_csv, report_json, report_text, report_xlsx

    async with Database(settings.database) as db:
        svc = build_services(settings, SystemClock(), db)
        statistics = svc.statistics
        try:
            label = statistics.week(week)
        except Refused:
            print("a week looks like 2026-W47 (or 'last')", file=sys.stderr)
            return None
        scope = Scope(department=department)
        report = await statistics.report(label, scope)
        names = await statistics.names()
        lang = settings.language
        data: bytes
        if form == "text":
            title = statistics.scope_title(lang, scope, names)
            body = strip_markup(report_text(lang, report, names, svc.zone, title))
            data = (body + "\n").encode()
        elif form == "json":
            data = (
                json.dumps(report_json(report, names), ensure_ascii=False, indent=2) + "\n"
            ).encode()
        elif form == "csv":
            rows = statistics.rows(label, scope)
            data = await asyncio.to_thread(report_csv, report, rows, names, svc.zone)
        elif form == "xlsx":
            rows = statistics.rows(label, scope)
            data = await asyncio.to_thread(report_xlsx, report, rows, names, svc.zone)
        else:
            trend = await statistics.trend(label, scope)
            data = await asyncio.to_thread(report_chart, report, trend, names, lang)
    return data


def _write_stats(data: bytes | None, form: str, output: Path | None) -> int:
    if data is None:
        return 2
    if output is not None:
        output.write_bytes(data)
        print(f"wrote {output}")
    elif form in ("xlsx", "png"):
        print("binary output: give --output PATH", file=sys.stderr)
        return 2
    else:
        sys.stdout.buffer.write(data)
    return 0


async def _backup(settings: Settings, path: Path) -> int:
    async with Database(settings.database) as db:
        await db.backup(path)
    print(f"backed up {settings.database} to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "run":
            settings.token()
    except SettingsError as invalid:
        for line in invalid.problems:
            print(f"whistle: {line}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level="WARNING" if args.command == "demo" else settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    match args.command:
        case "run":
            from bot.app import ConfigurationError

            try:
                asyncio.run(_run(settings))
            except ConfigurationError as error:
                print(f"whistle: {error}", file=sys.stderr)
                return 2
            return 0
        case "demo":
            from bot.demo import run_demo

            return asyncio.run(run_demo(settings, keep=args.keep, quiet=args.quiet))
        case "org":
            return asyncio.run(_org(settings, args.action, args.file))
        case "invite":
            return asyncio.run(_invite(settings, args.role, args.grid, args.department))
        case "stats":
            data = asyncio.run(_stats(settings, args.week, args.format, args.department))
            return _write_stats(data, args.format, args.output)
        case "backup":
            if args.path.exists():
                print(f"{args.path} exists; choose a new file", file=sys.stderr)
                return 1
            return asyncio.run(_backup(settings, args.path))
    return 2


if __name__ == "__main__":
    sys.exit(main())
