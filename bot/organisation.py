"""The organisation file: departments, categories, grids and the duty roster.

The street office edits a TOML file; this module reads it, validates every
entry (pydantic for shapes, cross-checks for references) and reports each
error with the line and key it concerns, so a person can fix the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.gazetteer import GazetteerPlace, gazetteer_changes
from bot.gazetteer import problems as gazetteer_problems
from bot.workcalendar import DAY_NAMES, WorkCalendar

SQLITE_MAX_INTEGER = 2**63 - 1
"""The largest integer SQLite stores: a larger id would pass here and fail at import."""

Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
UserId = Annotated[int, Field(gt=0, le=SQLITE_MAX_INTEGER)]
Name = Annotated[str, Field(min_length=1, max_length=100)]

_HOURS = re.compile(r"^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})$", re.ASCII)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Department(_Entry):
    code: Code
    name: Name
    head: UserId | None = None
    members: list[UserId] = []
    group_chat: Annotated[int, Field(lt=0, ge=-SQLITE_MAX_INTEGER - 1)] | None = None
    quiet: str | None = None
    """Quiet hours ('22:00-07:00'): non-urgent reminders wait until they end."""
    office_days: str = "mon-fri"
    office_hours: str = "08:30-17:30"
    """Working time for business-hours deadlines when the department has no duty roster."""

    @field_validator("quiet", "office_hours")
    @classmethod
    def _is_a_span(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hours(value)
        return value

    @field_validator("office_days")
    @classmethod
    def _days_are_known(cls, value: str) -> str:
        parse_days(value)
        return value


WorkdayCount = Annotated[int, Field(gt=0, le=250)]


class Category(_Entry):
    code: Code
    name: Name
    department: Code
    ack_minutes: Annotated[int, Field(gt=0, le=60 * 24 * 30)]
    resolve_hours: Annotated[float, Field(gt=0, le=24 * 365)] | None = None
    urgent_ack_minutes: Annotated[int, Field(gt=0, le=60 * 24 * 30)] | None = None
    urgent_resolve_hours: Annotated[float, Field(gt=0, le=24 * 365)] | None = None
    resolve_workdays: WorkdayCount | None = None
    """The resolve limit in working days: due at the end of office hours on the N-th
    working day after the dispatch (China's calendar, see bot/workcalendar.py)."""
    urgent_resolve_workdays: WorkdayCount | None = None
    business_hours: bool = False
    """Deadlines count only the owning department's working time, not calendar time."""
    # 附议
    nearby_meters: Annotated[int, Field(gt=0, le=50_000)] = 200
    """附议: open issues of this category reported this close offered before a new one."""

    @model_validator(mode="after")
    def _one_resolve_limit(self) -> Category:
        if (self.resolve_hours is None) == (self.resolve_workdays is None):
            raise ValueError("give the resolve limit as resolve_hours or resolve_workdays")
        if self.urgent_resolve_hours is not None and self.urgent_resolve_workdays is not None:
            raise ValueError(
                "give the urgent resolve limit as urgent_resolve_hours or "
                "urgent_resolve_workdays, not both"
            )
        return self


class Grid(_Entry):
    code: Code
    name: Name
    workers: list[UserId] = []
    routes: dict[str, Code] = {}
    """Category code → department code, where this grid is served by another department."""


class Duty(_Entry):
    department: Code
    member: UserId
    days: str
    hours: str

    @field_validator("days")
    @classmethod
    def _days_are_known(cls, value: str) -> str:
        parse_days(value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours_are_a_span(cls, value: str) -> str:
        parse_hours(value)
        return value


class CalendarTable(_Entry):
    """`[calendar]`: the official schedule for years the chinese-calendar library does not
    know yet (the State Council publishes each year's in November or December)."""

    holidays: list[date] = []
    """法定节假日 that fall on working days (e.g. 2027-01-01)."""
    workdays: list[date] = []
    """调休: weekend days worked in exchange (e.g. 2027-02-20)."""

    @model_validator(mode="after")
    def _not_both(self) -> CalendarTable:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"{both[0].isoformat()} is listed as a holiday and a workday")
        return self


# 联合吹哨: the [whistle] table
class WhistleRules(_Entry):
    """`[whistle]`: how soon a summoned department must report on site (报到), and how near
    the place a check-in must be to count as on site."""

    arrive_minutes: Annotated[int, Field(gt=0, le=60 * 24)] = 30
    urgent_arrive_minutes: Annotated[int, Field(gt=0, le=60 * 24)] = 15
    radius_meters: Annotated[int, Field(gt=0, le=100_000)] = 300


class PlaceEntry(_Entry):
    """`[[place]]`: one of the street's places (a building, a 小区, a crossing) in its
    gazetteer, so that an address can be found offline (bot/gazetteer.py)."""

    name: Name
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    aliases: list[Name] = []

    def gazetteer_place(self) -> GazetteerPlace:
        return GazetteerPlace(self.name, self.lat, self.lon, tuple(self.aliases))


class OrganisationFile(_Entry):
    timezone: str = "Asia/Shanghai"
    calendar: CalendarTable = CalendarTable()
    whistle: WhistleRules = WhistleRules()
    admins: list[UserId] = []
    people: dict[UserId, Name] = {}
    """Display names by Telegram user id, until people's own Telegram names are known."""
    department: list[Department] = []
    category: list[Category] = []
    grid: list[Grid] = []
    duty: list[Duty] = []
    place: list[PlaceEntry] = []
    """联合吹哨: the street's gazetteer (addresses found offline)."""

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


def parse_days(text: str) -> frozenset[int]:
    """'mon-fri', 'sat-sun', 'mon,wed,fri', 'daily' → weekday numbers (Monday = 0)."""
    text = text.strip().lower()
    if text in {"daily", "every day", "mon-sun"}:
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        bounds = [p.strip() for p in part.split("-")]
        if len(bounds) > 2 or not all(b in DAY_NAMES for b in bounds):
            raise ValueError(f"days must look like 'mon-fri' or 'mon,wed', not {text!r}")
        first, last = DAY_NAMES.index(bounds[0]), DAY_NAMES.index(bounds[-1])
        day = first
        while True:
            days.add(day)
            if day == last:
                break
            day = (day + 1) % 7
    return frozenset(days)


def parse_hours(text: str) -> tuple[int, int]:
    """'08:00-18:00' → minutes of the day (480, 1080). An end at or before the start
    runs past midnight ('18:00-08:00'); '00:00-24:00' is the whole day."""
    match = _HOURS.match(text.strip())
    if not match:
        raise ValueError(f"hours must look like '08:00-18:00', not {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} is not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"{text!r} is an empty span")
    return start, end


@dataclass(frozen=True)
class OrgError:
    """One problem in the organisation file, placed where a person can find it."""

    where: str
    line: int | None
    message: str

    def __str__(self) -> str:
        at = f"line {self.line}: " if self.line else ""
        return f"{at}{self.where}: {self.message}"


class OrganisationInvalid(Exception):
    def __init__(self, errors: list[OrgError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


class _LineIndex:
    """Finds the line of `[[table]]` number i, or of a key inside it, in the raw TOML."""

    _header = re.compile(r"^\s*\[\[\s*([A-Za-z_]+)\s*\]\]")
    _table = re.compile(r"^\s*\[\s*([A-Za-z_]+)\s*\]")
    _key = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str | None, int | None, str | None], int] = {}
        counts: dict[str, int] = {}
        table: str | None = None
        index: int | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if header := self._header.match(line):
                table = header.group(1)
                index = counts.get(table, 0)
                counts[table] = index + 1
                self.lines[(table, index, None)] = number
            elif plain_table := self._table.match(line):
                table, index = plain_table.group(1), None
            elif key := self._key.match(line):
                name = next(part for part in key.groups() if part is not None)
                self.lines.setdefault((table, index, name), number)

    def find(self, loc: tuple[Any, ...]) -> int | None:
        """The line of an error's location: a key of `[[table]]` number i (or its header),
        a key of a plain `[table]` such as `[people]`, or else a top-level key."""
        if not loc:
            return None
        head = str(loc[0])
        found: int | None = None
        if len(loc) >= 2 and isinstance(loc[1], int):
            if len(loc) >= 3 and isinstance(loc[2], str):
                found = self.lines.get((head, loc[1], loc[2]))
            found = found or self.lines.get((head, loc[1], None))
        elif len(loc) >= 2 and isinstance(loc[1], str):
            found = self.lines.get((head, None, loc[1]))
        return found or self.lines.get((None, None, head))


def _where(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        table, index = loc[0], loc[1]
        entries = raw.get(table)
        if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
            entry = entries[index]
            code = entry.get("code") or entry.get("member") or entry.get("name")  # [[place]]
            label = f"[[{table}]] #{index + 1}" + (f" ({code})" if code is not None else "")
            rest = ".".join(str(p) for p in loc[2:])
            return f"{label} {rest}".strip()
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(raw.get(loc[0]), dict):
        return f"[{loc[0]}] {loc[1]}" + (" (the key)" if "[key]" in loc[2:] else "")
    return ".".join(str(p) for p in loc)


@dataclass(frozen=True)
class Shift:
    department: str
    member: int
    days: frozenset[int]
    start_minute: int
    end_minute: int
    office: bool = False
    """Office hours rather than a duty roster: the official calendar decides its days (a
    public holiday is not office time, a 调休 Saturday is; see `office_day`)."""

    def office_day(self, day: date, calendar: WorkCalendar) -> bool:
        """Whether this office-hours shift works on `day`. Where the department's office
        days agree with the usual Monday–Friday for that weekday, the official calendar
        decides; where they differ (an office open on Saturdays), its own days do."""
        weekday = day.weekday()
        if (weekday in self.days) == (weekday < 5):
            return calendar.is_workday(day)
        return weekday in self.days

    def covers(self, weekday: int, minute: int) -> bool:
        """Whether local (weekday, minute of day) falls in this shift. An overnight shift
        belongs to the day it starts on: 'fri 18:00-08:00' covers Saturday 07:59."""
        if self.start_minute < self.end_minute:
            return weekday in self.days and self.start_minute <= minute < self.end_minute
        if weekday in self.days and minute >= self.start_minute:
            return True
        return (weekday - 1) % 7 in self.days and minute < self.end_minute


@dataclass(frozen=True)
class Organisation:
    """A validated organisation, ready for routing and import."""

    timezone: ZoneInfo
    admins: tuple[int, ...]
    people: dict[int, str]
    departments: dict[str, Department]
    categories: dict[str, Category]
    grids: dict[str, Grid]
    shifts: tuple[Shift, ...]
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    whistle: WhistleRules = field(default_factory=WhistleRules)
    places: tuple[GazetteerPlace, ...] = ()
    """联合吹哨: the street's gazetteer, `[[place]]`."""

    def working_time(self, department: str) -> tuple[Shift, ...]:
        """The department's working time: its duty roster, or else its office hours."""
        roster = tuple(s for s in self.shifts if s.department == department)
        if roster:
            return roster
        dept = self.departments.get(department)
        if dept is None:
            return ()
        return (
            Shift(
                department,
                0,
                parse_days(dept.office_days),
                *parse_hours(dept.office_hours),
                office=True,
            ),
        )

    def office_day_ends(self, department: str) -> time:
        """When the department's office day ends (17:30 by default): the hour a limit in
        working days falls due."""
        dept = self.departments.get(department)
        end_minute = parse_hours(dept.office_hours)[1] if dept else parse_hours("08:30-17:30")[1]
        return time(end_minute // 60, end_minute % 60)

    def unknown_calendar_years(self, today: date) -> list[int]:
        """This year and the next, where neither the file's `[calendar]` nor the library
        has the official schedule (working days then fall back to Monday–Friday)."""
        return self.calendar.unknown_years([today.year, today.year + 1])

    def quiet_hours(self, department: str | None) -> tuple[int, int] | None:
        dept = self.departments.get(department or "")
        return parse_hours(dept.quiet) if dept is not None and dept.quiet else None

    def department_for(self, category: str, grid: str | None) -> str:
        """Category → department, unless the grid routes that category elsewhere."""
        if grid is not None and grid in self.grids:
            override = self.grids[grid].routes.get(category)
            if override:
                return override
        return self.categories[category].department


Problem = tuple[tuple[Any, ...], str]
"""Where in the file (table, index, field) and what is wrong there."""


def _cross_check(org: OrganisationFile) -> list[Problem]:
    """What each table cannot say alone: codes used twice, and references to departments,
    categories and members that the file does not define."""
    # A duplicated code is one error; references to it are checked against every entry
    # with that code, so it does not also fail each of them.
    rosters: dict[str, set[int]] = {}
    for dept in org.department:
        roster = rosters.setdefault(dept.code, set())
        roster.update(dept.members)
        if dept.head is not None:
            roster.add(dept.head)
    problems = [
        *_duplicate_codes(org),
        *_department_problems(org),
        *_category_problems(org, set(rosters)),
        *_route_problems(org, set(rosters)),
        *_duty_problems(org, rosters),
        *_place_problems(org),
    ]
    if not org.category:
        problems.append((("category",), "the file defines no categories"))
    if not org.grid:
        problems.append((("grid",), "the file defines no grids"))
    return problems


def _place_problems(org: OrganisationFile) -> list[Problem]:
    """联合吹哨: the gazetteer's names and aliases each lead to one place."""
    return [
        (("place", index, key), message)
        for index, key, message in gazetteer_problems([p.gazetteer_place() for p in org.place])
    ]


def _duplicate_codes(org: OrganisationFile) -> list[Problem]:
    problems: list[Problem] = []
    tables: tuple[tuple[str, Sequence[Department | Category | Grid]], ...] = (
        ("department", org.department),
        ("category", org.category),
        ("grid", org.grid),
    )
    for table, entries in tables:
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            if entry.code in seen:
                problems.append(((table, i, "code"), f"duplicate code {entry.code!r}"))
            seen.add(entry.code)
    return problems


def _department_problems(org: OrganisationFile) -> list[Problem]:
    problems: list[Problem] = []
    for i, dept in enumerate(org.department):
        if dept.head is not None and dept.head in dept.members:
            problems.append(
                (("department", i, "members"), f"head {dept.head} is also listed as a member")
            )
        if len(set(dept.members)) != len(dept.members):
            problems.append((("department", i, "members"), "a member is listed twice"))
        if dept.head is None and not dept.members:
            problems.append((("department", i, "members"), "a department needs a head or members"))
    return problems


def _category_problems(org: OrganisationFile, departments: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for i, cat in enumerate(org.category):
        if cat.department not in departments:
            problems.append(
                (("category", i, "department"), f"unknown department {cat.department!r}")
            )
        urgent_resolve = cat.urgent_resolve_hours or cat.urgent_resolve_workdays
        if (cat.urgent_ack_minutes is None) != (urgent_resolve is None):
            problems.append(
                (
                    ("category", i, "urgent_ack_minutes"),
                    "give both urgent_ack_minutes and urgent_resolve_hours (or "
                    "urgent_resolve_workdays), or neither",
                )
            )
        if cat.resolve_hours is not None and cat.ack_minutes > cat.resolve_hours * 60:
            problems.append(
                (("category", i, "ack_minutes"), "the ack deadline is longer than the resolve one")
            )
    return problems


def _route_problems(org: OrganisationFile, departments: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    categories = {c.code for c in org.category}
    for i, grid in enumerate(org.grid):
        for category, target in grid.routes.items():
            if category not in categories:
                problems.append((("grid", i, "routes"), f"unknown category {category!r}"))
            if target not in departments:
                problems.append((("grid", i, "routes"), f"unknown department {target!r}"))
    return problems


def _duty_problems(org: OrganisationFile, rosters: dict[str, set[int]]) -> list[Problem]:
    problems: list[Problem] = []
    for i, duty in enumerate(org.duty):
        if duty.department not in rosters:
            problems.append((("duty", i, "department"), f"unknown department {duty.department!r}"))
        elif duty.member not in rosters[duty.department]:
            problems.append(
                (
                    ("duty", i, "member"),
                    f"{duty.member} is not on the roster of department {duty.department!r}",
                )
            )
    return problems


def parse_organisation(text: str) -> Organisation:
    """Validate TOML text; raise OrganisationInvalid listing every error found."""
    text = text.removeprefix(BOM)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OrganisationInvalid([OrgError("TOML", None, str(exc))]) from None
    lines = _LineIndex(text)
    try:
        parsed = OrganisationFile.model_validate(raw)
    except ValidationError as exc:
        errors = [
            OrgError(_where(tuple(e["loc"]), raw), lines.find(tuple(e["loc"])), e["msg"])
            for e in exc.errors()
        ]
        raise OrganisationInvalid(errors) from None
    problems = _cross_check(parsed)
    if problems:
        raise OrganisationInvalid(
            [OrgError(_where(loc, raw), lines.find(loc), msg) for loc, msg in problems]
        )
    shifts = tuple(
        Shift(d.department, d.member, parse_days(d.days), *parse_hours(d.hours))
        for d in parsed.duty
    )
    return Organisation(
        timezone=ZoneInfo(parsed.timezone),
        admins=tuple(parsed.admins),
        people=dict(parsed.people),
        departments={d.code: d for d in parsed.department},
        categories={c.code: c for c in parsed.category},
        grids={g.code: g for g in parsed.grid},
        shifts=shifts,
        calendar=WorkCalendar(
            holidays=frozenset(parsed.calendar.holidays),
            workdays=frozenset(parsed.calendar.workdays),
        ),
        whistle=parsed.whistle,
        places=tuple(p.gazetteer_place() for p in parsed.place),
    )


BOM = "\ufeff"
"""The byte order mark Windows Notepad puts at the start of a UTF-8 file."""


def read_organisation_text(path: Path) -> str:
    """The file's text (UTF-8, with or without a byte order mark), or OrganisationInvalid
    saying why it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OrganisationInvalid([OrgError(str(path), None, exc.strerror or str(exc))]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise OrganisationInvalid(
            [OrgError(str(path), line, "not UTF-8 text: save the file as UTF-8")]
        ) from None


def check_zone(org: Organisation, toml_text: str, zone: str | None) -> None:
    """OrganisationInvalid when the file's time zone is not `zone` (WHISTLE_TIMEZONE; None:
    any zone): deadlines and rosters would follow one zone and every time shown the
    other, and the bot would refuse its next start."""
    if zone is None or org.timezone.key == zone:
        return
    line = next(
        (
            n
            for n, text in enumerate(toml_text.splitlines(), start=1)
            if text.strip().startswith("timezone")
        ),
        None,
    )
    raise OrganisationInvalid(
        [
            OrgError(
                "timezone",
                line,
                f"{org.timezone.key!r} differs from WHISTLE_TIMEZONE {zone!r}; "
                "set both to the same zone (nothing was imported)",
            )
        ]
    )


def load_organisation(path: Path) -> Organisation:
    return parse_organisation(read_organisation_text(path))


def _routes(routes: dict[str, str]) -> str:
    return ", ".join(f"{c}→{d}" for c, d in sorted(routes.items())) or "-"


def routing_changes(old: Organisation, new: Organisation) -> list[str]:
    """What changed between two organisations that moves issues or deadlines and that the
    stored tables do not show: the time zone, duty rosters, grid routes, quiet and office
    hours, business-hours deadlines, and people's names. One line each, for the import's
    summary; departments, categories, grids and roles are compared where they are stored."""
    changes: list[str] = []
    if old.timezone.key != new.timezone.key:
        changes.append(f"timezone {old.timezone.key} → {new.timezone.key}")
    for code, dept in new.departments.items():
        before = old.departments.get(code)
        if before is None:
            continue
        for label, key in (
            ("quiet hours", "quiet"),
            ("office days", "office_days"),
            ("office hours", "office_hours"),
        ):
            was, now = getattr(before, key), getattr(dept, key)
            if was != now:
                changes.append(f"department {code} {label} {was or '-'} → {now or '-'}")
        roster = sorted(
            (s.member, sorted(s.days), s.start_minute, s.end_minute)
            for s in new.shifts
            if s.department == code
        )
        roster_before = sorted(
            (s.member, sorted(s.days), s.start_minute, s.end_minute)
            for s in old.shifts
            if s.department == code
        )
        if roster != roster_before:
            changes.append(
                f"duty roster {code}: {len(roster_before)} → {len(roster)} shift(s), "
                f"on duty {sorted({m for m, *_ in roster}) or '-'}"
            )
    for code, grid in new.grids.items():
        before_grid = old.grids.get(code)
        if before_grid is not None and before_grid.routes != grid.routes:
            changes.append(
                f"grid {code} routes {_routes(before_grid.routes)} → {_routes(grid.routes)}"
            )
    for code, category in new.categories.items():
        before_category = old.categories.get(code)
        if (
            before_category is not None
            and before_category.business_hours != category.business_hours
        ):
            changes.append(
                f"category {code} business hours {before_category.business_hours} → "
                f"{category.business_hours}"
            )
    for user_id in sorted(old.people.keys() | new.people.keys()):
        was_name, now_name = old.people.get(user_id), new.people.get(user_id)
        if was_name != now_name:
            changes.append(f"name {user_id} {was_name or '-'} → {now_name or '-'}")
    changes.extend(gazetteer_changes(old.places, new.places))  # 联合吹哨
    return changes
