"""Statistics on demand and the weekly push. Definitions live in bot/stats.py; this
service reads the cohorts, scopes them to a person's view and renders the files off the
event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.bot_api import Method
from bot.chart_process import chart_in_child
from bot.clock import to_epoch
from bot.i18n import Html, plain
from bot.permissions import Actor
from bot.services.context import Service, ServiceContext
from bot.services.refusal import Refused
from bot.stats import (
    Computed,
    ExtensionFigures,
    Figures,
    Grouping,
    HeldIssue,
    IssueRow,
    SummonsRow,
    WeeklyReport,
    compute,
    epoch_bounds,
    shift_week,
    week_label,
    weekly_report,
    with_whistles,
)
from bot.stats_views import (
    TREND_WEEKS,
    report_csv,
    report_text,
    report_xlsx,
    week_in_words,
    whistles_csv,
)
from bot.views import Names
from bot.workcalendar import DAY_NAMES
from storage import org as org_store
from storage import outbox, people
from storage import stats as store


@dataclass(frozen=True)
class Scope:
    """Whose issues a report covers: everything, or those held by some departments (a
    head's) and those assigned to one member (their own), or both."""

    departments: tuple[str, ...] = ()
    member: int | None = None

    @property
    def key(self) -> str:
        parts = [f"department:{d}" for d in self.departments]
        if self.member is not None:
            parts.append(f"member:{self.member}")
        return "+".join(parts) or "all"


@dataclass(frozen=True)
class Bundle:
    text: Html
    chart: bytes
    csv: bytes | None
    """None when not asked for (the /stats answer sends the chart and the XLSX only)."""
    xlsx: bytes
    whistles_csv: bytes | None = None
    """联合吹哨: the week's summonses, one per row; None without CSV or without whistles."""


class StatisticsService(Service):
    def __init__(
        self,
        context: ServiceContext,
        zone: ZoneInfo,
        weekday: str = "mon",
        at: time = time(9, 0),
    ) -> None:
        super().__init__(context)
        self.zone = zone
        self.weekday = DAY_NAMES.index(weekday)
        self.at = at

    def week(self, argument: str | None) -> str:
        """None → this week so far; 'last' → last week; '2026-W47' → that week."""
        current = week_label(self.clock.now(), self.zone)
        if argument is None or argument == "":
            return current
        if argument.lower() == "last":
            return shift_week(current, -1, self.zone)
        try:
            label = shift_week(argument.upper(), 0, self.zone)
            # A report compares with the week before: that week must exist too.
            shift_week(shift_week(label, -1, self.zone), 0, self.zone)
        except ValueError:
            raise Refused("st_usage") from None
        return label

    def scope_for(self, actor: Actor) -> Scope:
        """Admins see everything, heads every department they head, members their own
        issues (in every department they belong to); a head who is also a member of another
        department sees both."""
        if actor.admin:
            return Scope()
        if not (actor.head_of or actor.member_of):
            raise Refused("st_not_allowed")
        member_elsewhere = bool(actor.member_of - actor.head_of)
        return Scope(
            departments=tuple(sorted(actor.head_of)),
            member=actor.user_id if member_elsewhere else None,
        )

    async def _computed(
        self, week: str, scope: Scope, as_of: int, durations: bool = True
    ) -> Computed:
        starts, ends = epoch_bounds(week, self.zone)
        cohort = await store.cohort_columns(
            self.db.reader, starts, ends, scope.departments, scope.member, durations
        )
        computed = await asyncio.to_thread(compute, cohort, as_of)
        # 联合吹哨: the summonses' figures, per summoned department
        summonses = await self.summonses(week, scope)
        return with_whistles(computed, summonses) if summonses else computed

    async def report(self, week: str, scope: Scope = Scope()) -> WeeklyReport:
        """The week's figures against the week before's, as of now."""
        moment = self.clock.now()
        as_of = to_epoch(moment)
        starts, ends = epoch_bounds(week, self.zone)
        current = await self._computed(week, scope, as_of)
        previous = await self._computed(
            shift_week(week, -1, self.zone), scope, as_of, durations=False
        )
        oldest = await store.oldest_overdue(
            self.db.reader, starts, ends, as_of, scope.departments, scope.member
        )
        closures = await store.closure_counts(
            self.db.reader, starts, ends, scope.departments, scope.member
        )
        # extensions and 挂账
        asked, approved, held_at_end, held_now = await store.extension_figures(
            self.db.reader, starts, ends, as_of, scope.departments, scope.member
        )
        extensions = ExtensionFigures(
            asked, approved, held_at_end, tuple(HeldIssue(*h) for h in held_now)
        )
        return weekly_report(
            week, self.zone, current, previous, moment, oldest, closures, extensions
        )

    def rows(self, week: str, scope: Scope = Scope()) -> Iterator[IssueRow]:
        """The per-issue rows behind the week's figures, read one batch at a time (blocking:
        for the thread that writes the files)."""
        starts, ends = epoch_bounds(week, self.zone)
        return store.cohort_rows(self.db.path, starts, ends, scope.departments, scope.member)

    async def trend(
        self, week: str, scope: Scope = Scope(), weeks: int = TREND_WEEKS
    ) -> list[tuple[str, Figures]]:
        """The overall figures of the `weeks` weeks up to `week`, oldest first."""
        as_of = to_epoch(self.clock.now())
        result: list[tuple[str, Figures]] = []
        for back in range(weeks - 1, -1, -1):
            label = shift_week(week, -back, self.zone)
            groups = await self._computed(label, scope, as_of, durations=False)
            result.append((label, groups[Grouping.OVERALL].get("all", Figures())))
        return result

    async def names(self) -> Names:
        return await self.notices.names(self.db.reader, await people.everyone(self.db.reader))

    def scope_title(self, lang: str, scope: Scope, names: Names) -> str:
        titles = [
            plain(lang, "st_scope_department", name=names.department(code))
            for code in scope.departments
        ]
        if scope.member is not None:
            titles.append(plain(lang, "st_scope_member", name=names.person(scope.member)))
        return plain(lang, "roles_separator").join(titles) or plain(lang, "st_scope_all")

    async def bundle(self, week: str, scope: Scope, lang: str, *, with_csv: bool = True) -> Bundle:
        """Message, chart, XLSX and (`with_csv`) CSV for one scope. The files are written in
        a thread, the chart in a child process (bot/chart_process.py), both off the event
        loop. A street's week of 100,000 issues makes a CSV of tens of MB: built only for
        who is sent it."""
        report = await self.report(week, scope)
        trend = await self.trend(week, scope)
        names = await self.names()
        text = report_text(lang, report, names, self.zone, self.scope_title(lang, scope, names))

        summonses = await self.summonses(week, scope)  # 联合吹哨

        def files() -> tuple[bytes | None, bytes, bytes | None]:
            return (
                report_csv(report, self.rows(week, scope), names, self.zone, lang)
                if with_csv
                else None,
                report_xlsx(report, self.rows(week, scope), names, self.zone, lang, summonses),
                whistles_csv(summonses, names, self.zone, lang) if with_csv and summonses else None,
            )

        chart, (csv_bytes, xlsx_bytes, whistles_bytes) = await asyncio.gather(
            chart_in_child(report, trend, names, lang), asyncio.to_thread(files)
        )
        return Bundle(text, chart, csv_bytes, xlsx_bytes, whistles_bytes)

    async def summonses(self, week: str, scope: Scope = Scope()) -> list[SummonsRow]:
        """联合吹哨: the summonses behind the week's whistle figures (see bot/stats.py)."""
        starts, ends = epoch_bounds(week, self.zone)
        return await store.summons_rows(
            self.db.reader, starts, ends, scope.departments, scope.member
        )

    def file_caption(self, lang: str, week: str) -> str:
        """The caption of the files: the week in words (the file names keep its ISO label)."""
        return plain(lang, "st_file_caption", week=week_in_words(lang, week, self.zone))

    def due_week(self) -> str:
        """The week whose report is due now: last week once this week's send time has
        passed, else the week before it."""
        local = self.clock.now().astimezone(self.zone)
        monday = local.date() - timedelta(days=local.weekday())
        send_at = datetime.combine(monday + timedelta(days=self.weekday), self.at, tzinfo=self.zone)
        this_week = week_label(local, self.zone)
        return shift_week(this_week, -1 if local >= send_at else -2, self.zone)

    async def push_due(self) -> int:
        """Queue the due weekly report for every admin (whole street) and head (their
        department) who has not had it: at most once per week and recipient, even across
        restarts; never for a week that began before the organisation was first imported.
        Returns how many recipients were queued."""
        week = self.due_week()
        reader = self.db.reader
        imported = await org_store.first_import(reader)
        if imported is None or epoch_bounds(week, self.zone)[0] < imported:
            # The street did not exist yet (in Whistle) when that week began: a report of
            # nothing would go to every head and admin.
            return 0
        recipients: list[tuple[int, Scope]] = [
            (a, Scope()) for a in await people.active_admins(reader)
        ]
        admins = {a for a, _ in recipients}
        for head in await people.active_heads(reader):
            if head not in admins:
                actor = await people.load_actor(reader, head)
                recipients.append((head, self.scope_for(actor)))
        done = await store.recipients(reader, week)
        bundles: dict[tuple[str, str], Bundle] = {}
        queued = 0
        for recipient, scope in recipients:
            if recipient in done:
                continue
            lang = await self.notices.language(reader, recipient)
            key = (scope.key, lang)
            if key not in bundles:
                bundles[key] = await self.bundle(week, scope, lang)
            queued += await self._queue(week, recipient, scope, lang, bundles[key])
        if queued:
            self.on_commit()
        return queued

    async def _queue(
        self, week: str, recipient: int, scope: Scope, lang: str, bundle: Bundle
    ) -> int:
        now = to_epoch(self.clock.now())
        caption = self.file_caption(lang, week)
        async with self.db.write() as tx:
            if not await store.claim_delivery(tx, week, recipient, scope.key, now):
                return 0
            await outbox.enqueue(
                tx,
                chat_id=recipient,
                method=Method.SEND_MESSAGE,
                payload={"text": str(bundle.text), "parse_mode": "HTML"},
                purpose="stats",
                now=now,
            )
            assert bundle.csv is not None, "the weekly push sends the CSV"
            files: tuple[tuple[str, str, str, bytes], ...] = (
                (Method.SEND_PHOTO, f"whistle-{week}.png", "image/png", bundle.chart),
                (Method.SEND_DOCUMENT, f"whistle-{week}.csv", "text/csv", bundle.csv),
                (
                    Method.SEND_DOCUMENT,
                    f"whistle-{week}.xlsx",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    bundle.xlsx,
                ),
            )
            if bundle.whistles_csv is not None:  # 联合吹哨: the summonses, a file of their own
                files += (
                    (
                        Method.SEND_DOCUMENT,
                        f"whistle-{week}-whistles.csv",
                        "text/csv",
                        bundle.whistles_csv,
                    ),
                )
            for method, filename, mime, data in files:
                attachment = await store.store_attachment(tx, filename, mime, data, now)
                body: dict[str, object] = {"attachment": attachment}
                if method == Method.SEND_DOCUMENT:
                    body["caption"] = caption
                await outbox.enqueue(
                    tx, chat_id=recipient, method=method, payload=body, purpose="stats", now=now
                )
        return 1
