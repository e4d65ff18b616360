"""The `whistle` command line: run, demo, org check|import, people list|revoke, invite, stats,
backup."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

from bot.clock import SystemClock
from bot.deadlines import deadlines_in
from bot.gazetteer import far_from_the_others
from bot.i18n import strip_markup, text
from bot.instance import CannotStart
from bot.logs import configure_logging
from bot.numbers import MAX_ID, parse_id
from bot.organisation import (
    Organisation,
    OrganisationInvalid,
    check_zone,
    parse_organisation,
    read_organisation_text,
)
from bot.permissions import Role
from bot.records import Grant
from bot.services import Refused, build_services
from bot.services.organisation import OrganisationMissing
from bot.settings import DEFAULT_ZONE, Settings, SettingsError, load_settings
from storage.db import Database, DatabaseUnavailable
from storage.org import stored_source_of

log = logging.getLogger("whistle")


SETTINGS_NOTE = (
    "Settings come from the environment or .env (WHISTLE_..., see .env.example); "
    "`whistle doctor` checks them."
)


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The `whistle` command's subcommands, each added by its own `_add_…`."""


def _command_parser(
    commands: Commands,
    name: str,
    summary: str,
    examples: str,
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows what it does and worked examples."""
    return commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _said(settings: Settings, refused: Refused) -> str:
    """A refusal as the bot would say it, in the settings' language, without markup."""
    return strip_markup(text(settings.language, refused.key, **refused.values))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whistle",
        description="街乡吹哨、部门报到 — grid issue reporting bot. " + SETTINGS_NOTE,
        epilog="examples:\n"
        "  whistle doctor                      check the whole setup\n"
        "  whistle org import district.toml    load the organisation\n"
        "  whistle run                         serve the street\n"
        "  whistle COMMAND --help              what a command takes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_run,
        _add_demo,
        _add_org,
        _add_invite,
        _add_stats,
        _add_people,
        _add_doctor,
        _add_backup,
        _add_deadline,
    ):
        add(commands)
    return parser


def _add_run(commands: Commands) -> None:
    _command_parser(
        commands,
        "run",
        "run the bot until SIGINT or SIGTERM: long polling, or the webhook when "
        "WHISTLE_WEBHOOK_URL is set",
        "  whistle run\n  WHISTLE_LOG_FORMAT=json whistle run",
    )


def _add_demo(commands: Commands) -> None:
    demo = _command_parser(
        commands,
        "demo",
        "play the whole loop offline (no token, no network)",
        "  whistle demo\n  whistle demo --quiet --keep demo-data",
    )
    demo.add_argument(
        "--keep",
        type=Path,
        metavar="FOLDER",
        help="keep the demo database and chart in this folder (a later demo run there "
        "replaces them), e.g. --keep demo-data",
    )
    demo.add_argument(
        "--quiet",
        action="store_true",
        help="print only the timelines, e.g. whistle demo --quiet",
    )


def _add_org(commands: Commands) -> None:
    org = _command_parser(
        commands,
        "org",
        "check or import the organisation file (TOML)",
        "  whistle org check district.toml\n  whistle org import district.toml",
    )
    org.add_argument(
        "action",
        choices=["check", "import"],
        help="check: report every error, change nothing; import: load it into the "
        "database (idempotent), e.g. check",
    )
    org.add_argument("file", type=Path, help="the organisation file, e.g. district.toml")


def _add_invite(commands: Commands) -> None:
    invite = _command_parser(
        commands,
        "invite",
        "make a one-time invite code; the person sends /start CODE to the bot",
        "  whistle invite worker --grid G01\n  whistle invite member --department cg\n"
        "  whistle invite admin",
    )
    invite.add_argument(
        "role",
        choices=[r.value for r in Role],
        help="the role the code gives, e.g. worker",
    )
    invite.add_argument(
        "--grid",
        default="",
        metavar="CODE",
        help="the grid of a worker (its code in the file), e.g. --grid G01",
    )
    invite.add_argument(
        "--department",
        default="",
        metavar="CODE",
        help="the department of a member or head, e.g. --department cg",
    )


def _add_stats(commands: Commands) -> None:
    stats = _command_parser(
        commands,
        "stats",
        "weekly response statistics, as of now",
        "  whistle stats\n  whistle stats --week last --format csv --output week.csv\n"
        "  whistle stats --week 2026-W47 --department cg --format png --output cg.png",
    )
    stats.add_argument(
        "--week",
        metavar="WEEK",
        help="an ISO week or 'last'; default: this week so far, e.g. --week 2026-W47",
    )
    stats.add_argument(
        "--format",
        choices=["text", "json", "csv", "xlsx", "png", "whistles-csv"],
        default="text",
        help="what to write (xlsx and png need --output; whistles-csv: one row per issue "
        "and summoned department), e.g. --format csv",
    )
    stats.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="write here instead of standard output, e.g. --output week.xlsx",
    )
    stats.add_argument(
        "--department",
        metavar="CODE",
        help="only this department (its code), e.g. --department cg",
    )


def _add_people(commands: Commands) -> None:
    people = _command_parser(
        commands,
        "people",
        "who holds which role; withdraw invited roles",
        "  whistle people list\n  whistle people revoke 2003",
    )
    people_actions = people.add_subparsers(dest="action", required=True, metavar="ACTION")
    _command_parser(
        people_actions,
        "list",
        "everyone with a role, where each came from, and who opened the bot",
        "  whistle people list",
    )
    revoke = _command_parser(
        people_actions,
        "revoke",
        "withdraw a person's invite-given roles (file and settings roles stay)",
        "  whistle people revoke 2003",
    )
    revoke.add_argument(
        "user_id",
        metavar="USER_ID",
        help="the person's Telegram user id (the bot's refusal shows it), e.g. 2003",
    )


def _add_doctor(commands: Commands) -> None:
    _command_parser(
        commands,
        "doctor",
        "check settings, database, organisation, the way to the Bot API, and who cannot "
        "receive pushes; exit 1 if anything must be fixed",
        "  whistle doctor\n  WHISTLE_DATABASE=/var/lib/whistle/whistle.db whistle doctor",
    )


def _add_backup(commands: Commands) -> None:
    backup = _command_parser(
        commands,
        "backup",
        "a consistent copy of the live database (the bot may keep running)",
        "  whistle backup /var/backups/whistle-2026-11-29.db",
    )
    backup.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="a new file for the copy, e.g. /var/backups/whistle-2026-11-29.db",
    )


def _add_deadline(commands: Commands) -> None:
    deadline = _command_parser(
        commands,
        "deadline",
        "when 报到 and 办结 would be due for an issue of CATEGORY dispatched at --from, by "
        "the organisation's working time, office hours and China's working calendar",
        "  whistle deadline sanitation --from 2026-09-30T16:00\n"
        "  whistle deadline noise --from 2026-12-31T16:00 --urgent --org district.toml",
    )
    deadline.add_argument("category", metavar="CATEGORY", help="a category code, e.g. sanitation")
    deadline.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="TIME",
        help="the dispatch time, local to the street, e.g. 2026-09-30T16:00",
    )
    deadline.add_argument(
        "--urgent", action="store_true", help="the limits for 紧急 reports, e.g. --urgent"
    )
    deadline.add_argument(
        "--department",
        metavar="CODE",
        help="the department given the issue (default: the category's own), e.g. zj",
    )
    deadline.add_argument(
        "--org",
        type=Path,
        metavar="FILE",
        help="read this organisation file instead of the one stored in the database, "
        "e.g. district.toml",
    )


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
            log.info("Whistle is running; Ctrl+C stops it")
            from bot.chart_process import check_cjk_font

            await check_cjk_font()
            await stopping
    finally:
        for task in (starting, stopping):
            task.cancel()
        await asyncio.gather(starting, stopping, return_exceptions=True)
        await whistle.stop()


def calendar_warnings(org: Organisation, now: datetime) -> list[str]:
    """A warning for each year (this one and the next) whose official working calendar
    neither the file's [calendar] nor the chinese-calendar library knows — where some
    category's deadline counts working days or office hours."""
    if not any(
        c.resolve_workdays or c.urgent_resolve_workdays or c.business_hours
        for c in org.categories.values()
    ):
        return []
    return [
        f"no official working calendar for {year}: working days fall back to Monday–Friday "
        f"until [calendar] lists its holidays and workdays (published by the State Council "
        f"each November or December) or chinese-calendar is upgraded"
        for year in org.unknown_calendar_years(now.astimezone(org.timezone).date())
    ]


async def _deadline(
    settings: Settings,
    category: str,
    start: str,
    urgent: bool,
    department: str | None,
    org_file: Path | None,
) -> int:
    """When an issue of `category` dispatched at `start` would be due, by the organisation's
    working time and calendar: how an office checks its calendar."""
    org = await _organisation_for(settings, org_file)
    if org is None:
        return 1
    rules = org.categories.get(category)
    if rules is None:
        known = ", ".join(sorted(org.categories))
        print(f"whistle: no category {category!r}; the categories are: {known}", file=sys.stderr)
        return 2
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        print(
            f"whistle: --from {start!r} is not a time; for example --from 2026-09-30T16:00",
            file=sys.stderr,
        )
        return 2
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=org.timezone)
    dept = department or rules.department
    if dept not in org.departments:
        print(f"whistle: no department {dept!r}", file=sys.stderr)
        return 2
    due = deadlines_in(org, dept, rules, urgent, moment)
    shown = "%Y-%m-%d %H:%M (%a)"
    zone = org.timezone
    print(
        f"{rules.name} ({category}), {'urgent' if urgent else 'normal'}, "
        f"department {dept}, dispatched {moment.astimezone(zone).strftime(shown)}"
    )
    print(f"报到 due: {due.acknowledge_by.astimezone(zone).strftime(shown)}")
    print(f"办结 due: {due.resolve_by.astimezone(zone).strftime(shown)}")
    for warning in calendar_warnings(org, moment):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


async def _organisation_for(settings: Settings, org_file: Path | None) -> Organisation | None:
    """The organisation `whistle deadline` reads: the file given, or the one stored in the
    database; None (having said why) when there is none to read."""
    if org_file is not None:
        try:
            return parse_organisation(read_organisation_text(org_file))
        except OrganisationInvalid as invalid:
            print(
                f"{org_file}: {len(invalid.errors)} error(s); see whistle org check",
                file=sys.stderr,
            )
            return None
    if not settings.database.exists():
        print(
            f"whistle: no database at {settings.database} (WHISTLE_DATABASE): give the "
            "organisation file with --org, or import it first",
            file=sys.stderr,
        )
        return None
    async with Database(settings.database) as db:
        svc = build_services(settings, SystemClock(), db)
        try:
            return await svc.organisations.current()
        except OrganisationMissing as missing:
            print(f"whistle: {missing}", file=sys.stderr)
            return None


async def _org(settings: Settings, action: str, path: Path) -> int:
    try:
        toml_text = read_organisation_text(path)
        org = parse_organisation(toml_text)
        if action == "import":
            # Refused before the database is opened: nothing is created or written.
            check_zone(org, toml_text, settings.timezone)
    except OrganisationInvalid as invalid:
        print(f"{path}: {len(invalid.errors)} error(s)", file=sys.stderr)
        for error in invalid.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    for warning in calendar_warnings(org, SystemClock().now()):
        print(f"{path}: warning: {warning}", file=sys.stderr)
    for place, meters in far_from_the_others(org.places):  # 联合吹哨: a mistyped coordinate?
        print(
            f"{path}: warning: [[place]] {place.name} is {meters / 1000:.0f} km from the "
            "street's other places: check its lat and lon",
            file=sys.stderr,
        )
    if action == "check":
        print(
            f"{path}: OK — {len(org.departments)} departments, {len(org.categories)} "
            f"categories, {len(org.grids)} grids, {len(org.shifts)} duty shifts"
            + (f", {len(org.places)} places" if org.places else "")  # 联合吹哨: gazetteer
        )
        return 0
    async with Database(settings.database) as db:
        svc = build_services(settings, SystemClock(), db)
        try:
            summary = await svc.organisations.import_file(path)
        except OrganisationInvalid as invalid:
            print(f"{path}: {len(invalid.errors)} error(s)", file=sys.stderr)
            for error in invalid.errors:
                print(f"  {error}", file=sys.stderr)
            return 1
    if summary.unchanged:
        print(f"{path}: imported, nothing changed")
    else:
        for label, entries in (
            ("added", summary.added),
            ("changed", summary.changed),
            ("retired", summary.retired),
            ("re-dispatched", summary.redispatched),
        ):
            for entry in entries:
                print(f"{label}: {entry}")
    return 0


_SOURCES = {"org": "file", "settings": "WHISTLE_ADMIN_IDS", "invite": "invite"}


def _grant_text(grant: Grant) -> str:
    scope = f" {grant.scope}" if grant.scope else ""
    return f"{grant.role.value}{scope} ({_SOURCES.get(grant.source, grant.source)})"


async def _people(settings: Settings, action: str, typed_id: str | None) -> int:
    user_id = parse_id(typed_id, hash_allowed=False)
    if action == "revoke" and user_id is None:
        # The same numbers as the bot's /revoke; refused before the database is opened.
        print(
            f"whistle: {typed_id!r} is not a user id (1 to 19 digits 0-9, at most {MAX_ID})",
            file=sys.stderr,
        )
        return 2
    async with Database(settings.database) as db:
        svc = build_services(settings, SystemClock(), db)
        if action == "list":
            for person in await svc.people.everyone():
                roles = ", ".join(_grant_text(g) for g in person.grants)
                opened = "opened the bot" if person.seen else "never opened the bot"
                print(f"{person.user_id}\t{person.name or '-'}\t{roles}\t{opened}")
            return 0
        assert user_id is not None
        try:
            done = await svc.people.revoke(None, user_id)
        except Refused as refused:
            reasons = {
                "revoke_no_roles": f"{user_id} holds no role; nothing changed",
                "revoke_last_admin": (
                    f"{user_id} is the last admin: give somebody else the admin role "
                    "first; nothing changed"
                ),
            }
            print(reasons.get(refused.key) or _said(settings, refused), file=sys.stderr)
            return 1
    for grant in done.revoked:
        print(f"revoked: {_grant_text(grant)}")
    if not done.revoked:
        print(f"{user_id}: no role given by an invite; nothing revoked")
    for grant in done.kept:
        where = (
            "remove them from the organisation file and import it"
            if grant.source == "org"
            else "remove them from WHISTLE_ADMIN_IDS and restart"
        )
        print(f"kept: {_grant_text(grant)} — {where}")
    for moved in done.moved:
        print(f"re-dispatched: {moved}")
    return 0


async def _invite(settings: Settings, role: str, grid: str, department: str) -> int:
    async with Database(settings.database) as db:
        svc = build_services(settings, SystemClock(), db)
        try:
            code = await svc.people.create_invite(Role(role), grid or department, None)
        except Refused as refused:
            print(f"cannot make that invite: {_said(settings, refused)}", file=sys.stderr)
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
    from bot.services.statistics import Scope
    from bot.stats_views import (
        report_chart,
        report_csv,
        report_json,
        report_text,
        report_xlsx,
        whistles_csv,
    )

    async with Database(settings.database) as db:
        svc = build_services(settings, SystemClock(), db)
        statistics = svc.statistics
        try:
            label = statistics.week(week)
        except Refused:
            print("a week looks like 2026-W47 (or 'last')", file=sys.stderr)
            return None
        scope = Scope(departments=(department,) if department else ())
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
            data = await asyncio.to_thread(report_csv, report, rows, names, svc.zone, lang)
        elif form == "xlsx":
            rows = statistics.rows(label, scope)
            summonses = await statistics.summonses(label, scope)
            data = await asyncio.to_thread(
                report_xlsx, report, rows, names, svc.zone, lang, summonses
            )
        elif form == "whistles-csv":  # 联合吹哨: one row per issue and summoned department
            summonses = await statistics.summonses(label, scope)
            data = await asyncio.to_thread(whistles_csv, summonses, names, svc.zone, lang)
        else:
            trend = await statistics.trend(label, scope)
            data = await asyncio.to_thread(report_chart, report, trend, names, lang)
    return data


def _write_stats(data: bytes | None, form: str, output: Path | None) -> int:
    if data is None:
        return 2
    if output is not None:
        try:
            output.write_bytes(data)
        except OSError as error:
            print(f"whistle: cannot write {output}: {error.strerror}", file=sys.stderr)
            return 1
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


def with_street_zone(settings: Settings, *, importing: bool = False) -> Settings:
    """The street's time zone is the organisation file's; WHISTLE_TIMEZONE, when set, is a
    check. Unset, it is read from WHISTLE_ORG_FILE, else from the organisation stored in
    the database, else it is Asia/Shanghai. For `org import` the file being imported is
    checked against what runs now: the setting, else the stored organisation (a fresh
    database takes the file's zone)."""
    if settings.timezone is not None:
        return settings
    zone: str | None = None
    sources: list[Callable[[], str | None]] = [lambda: stored_source_of(settings.database)]
    if settings.org_file is not None and not importing:
        org_file = settings.org_file
        sources.insert(0, lambda: read_organisation_text(org_file))
    for source in sources:
        try:
            toml_text = source()
            if toml_text is not None:
                zone = parse_organisation(toml_text).timezone.key
                break
        except OrganisationInvalid:
            continue  # the command itself says what is wrong with the file
    if zone is None and importing:
        return settings
    return settings.model_copy(update={"timezone": zone or DEFAULT_ZONE})


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
    importing = args.command == "org" and args.action == "import"
    settings = with_street_zone(settings, importing=importing)
    configure_logging(
        "WARNING" if args.command == "demo" else settings.log_level.upper(),
        settings.log_format,
    )
    try:
        return _command(args, settings)
    except (CannotStart, DatabaseUnavailable) as failure:
        from bot.app import ConfigurationError, redact

        print(f"whistle: {redact(str(failure))}", file=sys.stderr)
        return 2 if isinstance(failure, ConfigurationError) else 1


def _command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one command; a failure that has a one-line explanation is raised to main."""
    match args.command:
        case "run":
            return _run_bot(settings)
        case "demo":
            from whistle_testing.demo import run_demo

            return asyncio.run(run_demo(settings, keep=args.keep, quiet=args.quiet))
        case "org":
            return asyncio.run(_org(settings, args.action, args.file))
        case "invite":
            return asyncio.run(_invite(settings, args.role, args.grid, args.department))
        case "stats":
            data = asyncio.run(_stats(settings, args.week, args.format, args.department))
            return _write_stats(data, args.format, args.output)
        case "people":
            return asyncio.run(_people(settings, args.action, getattr(args, "user_id", None)))
        case "deadline":
            return asyncio.run(
                _deadline(
                    settings, args.category, args.start, args.urgent, args.department, args.org
                )
            )
        case "doctor":
            from bot.doctor import examine

            return asyncio.run(examine(settings, print))
        case "backup":
            if args.path.exists():
                print(f"{args.path} exists; choose a new file", file=sys.stderr)
                return 1
            if not args.path.parent.is_dir():
                print(f"the folder {args.path.parent} does not exist", file=sys.stderr)
                return 1
            return asyncio.run(_backup(settings, args.path))
    return 2


def _run_bot(settings: Settings) -> int:
    """`whistle run`. The token is kept out of everything printed: log records are
    redacted as they are made, a known startup failure is one line naming its cause, and
    an unexpected one is logged (so redacted) rather than left to Python's traceback."""
    from bot.app import redact_in_logs

    if settings.telegram_token is not None:
        redact_in_logs(settings.token())
    try:
        asyncio.run(_run(settings))
    except (CannotStart, DatabaseUnavailable):
        raise
    except Exception:
        log.critical("Whistle stopped on an unexpected error", exc_info=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
