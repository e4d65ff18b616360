"""The `whistle` command line: run, demo, org check|import, invite, backup."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bot.clock import SystemClock
from bot.organisation import OrganisationInvalid, load_organisation
from bot.permissions import Role
from bot.services import Refused, build_services
from bot.settings import Settings
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
    backup = commands.add_parser("backup", help="a consistent copy of the live database")
    backup.add_argument("path", type=Path)
    return parser


async def _run(settings: Settings) -> None:
    from bot.app import Whistle

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Whistle(settings):
        logging.getLogger("whistle").info("Whistle is running; Ctrl+C stops it")
        await stop.wait()


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


async def _backup(settings: Settings, path: Path) -> int:
    async with Database(settings.database) as db:
        await db.backup(path)
    print(f"backed up {settings.database} to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level="WARNING" if args.command == "demo" else settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    match args.command:
        case "run":
            asyncio.run(_run(settings))
            return 0
        case "demo":
            from bot.demo import run_demo

            return asyncio.run(run_demo(settings, keep=args.keep, quiet=args.quiet))
        case "org":
            return asyncio.run(_org(settings, args.action, args.file))
        case "invite":
            return asyncio.run(_invite(settings, args.role, args.grid, args.department))
        case "backup":
            if args.path.exists():
                print(f"{args.path} exists; choose a new file", file=sys.stderr)
                return 1
            return asyncio.run(_backup(settings, args.path))
    return 2


if __name__ == "__main__":
    sys.exit(main())
