"""Extensions (延期) and 挂账: asking, deciding and reviewing, each a transaction.

This service owns who may do what (the rules are in bot/extensions.py, the states in
bot/lifecycle.py): only the member holding an issue asks; the head decides an extension
(the admins when the head holds the issue); the admins decide and review a 挂账. A
refused request raises `Refused` and changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, time

import aiosqlite

from bot import extensions as rules
from bot.clock import from_epoch, to_epoch
from bot.deadlines import Alert, AlertStep, DeadlineKind, alerts_for, deadlines_in
from bot.extensions import Approver, Kind, Limits
from bot.i18n import plain, text
from bot.lifecycle import Action, State, TransitionRefused, next_state
from bot.organisation import Organisation
from bot.records import ExtensionRequest, IssueRecord
from bot.services.context import Service, ServiceContext
from bot.services.notices import Notices
from bot.services.refusal import Refused
from bot.services.reports import clean_text
from bot.services.timeline import move_issue, note_event
from bot.views import Answer, Buttons, Rendered, hold_review_buttons
from storage import alerts, people
from storage import extensions as store
from storage import issues as issue_store
from storage import org as org_store

REVIEW_AT = time(9, 0)
"""The hour of a 挂账's review date at which the admins are reminded."""


def _day(epoch: int | None, org: Organisation) -> str:
    return from_epoch(epoch).astimezone(org.timezone).strftime("%m-%d") if epoch else "-"


def decision_buttons(lang: str, request_id: int) -> Buttons:
    return [
        [
            (plain(lang, "btn_ext_approve"), f"xy:{request_id}"),
            (plain(lang, "btn_ext_refuse"), f"xn:{request_id}"),
        ]
    ]


def _workday_buttons(
    lang: str, org: Organisation, start: date, choices: tuple[int, ...], data: str
) -> Buttons:
    """One row of +N working days buttons counted from `start`, each showing the day it
    reaches; a button's data is `data` and ":N"."""
    return [
        [
            (
                plain(
                    lang,
                    "btn_ext_days",
                    n=n,
                    day=rules.after_workdays(start, n, org.calendar).strftime("%m-%d"),
                ),
                f"{data}:{n}",
            )
            for n in choices
        ]
    ]


async def review_due(
    tx: aiosqlite.Connection, notices: Notices, issue: IssueRecord, now: int
) -> None:
    """A 挂账's review date has come: every admin is asked to review it."""
    names = await notices.issue_names(tx, issue)
    request = await store.latest_hold(tx, issue.id)
    for admin in await people.active_admins(tx):
        lang = await notices.language(tx, admin)
        await notices.tell(
            tx,
            admin,
            now,
            "hold_review_due",
            issue=issue,
            buttons=hold_review_buttons(lang, issue.id),
            id=issue.id,
            category=names.category(issue.category_code),
            department=names.department(issue.department_code),
            reason=request.reason if request else "-",
        )


class ExtensionService(Service):
    def __init__(self, context: ServiceContext, max_text_length: int) -> None:
        super().__init__(context)
        self.max_text_length = max_text_length

    # --- asking ------------------------------------------------------------------------

    async def _holding(
        self, conn: aiosqlite.Connection, user_id: int, issue_id: int, kind: Kind
    ) -> IssueRecord:
        """The issue, if `user_id` holds it and may ask now; else Refused."""
        _, issue = await self._registered_with_issue(conn, user_id, issue_id)
        if issue.assignee_id != user_id:
            raise Refused("ext_not_holder")
        try:
            next_state(issue.state, rules.ASK[kind])
        except TransitionRefused:
            raise Refused("ans_stale", state=issue.state) from None
        waiting = await store.pending(conn, issue_id)
        if waiting is not None:
            if not await self._lapsed(conn, waiting):
                raise Refused("ext_already_pending", id=issue_id)
            if conn is not self.db.reader:
                await store.lapse(conn, waiting.id, to_epoch(self.clock.now()))
        return issue

    @staticmethod
    async def _lapsed(conn: aiosqlite.Connection, request: ExtensionRequest) -> bool:
        """A waiting request no longer applies once its issue moved on (resolved, handed
        on, cancelled) or is held by somebody else."""
        issue = await issue_store.get_issue(conn, request.issue_id)
        return (
            issue is None
            or issue.assignee_id != request.requested_by
            or issue.state not in rules.HOLDER_STATES
            or await store.moved_since(conn, request)
        )

    async def check(self, user_id: int, issue_id: int, kind: Kind) -> None:
        """Refused unless `user_id` may ask for `kind` on the issue now (before typing)."""
        await self._holding(self.db.reader, user_id, issue_id, kind)

    async def date_prompt(self, user_id: int, issue_id: int, kind: Kind) -> Rendered:
        """The question for the new date, with the working-day buttons."""
        conn = self.db.reader
        issue = await self._holding(conn, user_id, issue_id, kind)
        org = await self.organisations.current()
        lang = await self.notices.language(conn, user_id)
        start = self._limits(issue, kind, org).after
        buttons = _workday_buttons(lang, org, start, rules.CHOICES[kind], f"xd:{issue_id}")
        key = "ext_ask_date" if kind == Kind.EXTEND else "hold_ask_date"
        return Rendered(
            text(lang, key, id=issue_id, due=_day(issue.resolve_deadline, org)), buttons
        )

    def _limits(self, issue: IssueRecord, kind: Kind, org: Organisation) -> Limits:
        today = self.clock.now().astimezone(org.timezone).date()
        if kind == Kind.EXTEND and issue.resolve_deadline is not None:
            after = from_epoch(issue.resolve_deadline).astimezone(org.timezone).date()
        else:
            after = today
        return Limits(after=after, today=today)

    def _chosen(self, choice: str, limits: Limits, kind: Kind, org: Organisation) -> date:
        """The date a +N button or a typed date stands for, checked; else Refused."""
        if (
            choice.startswith("+")
            and choice[1:].isdigit()
            and int(choice[1:]) in rules.CHOICES[kind]
        ):
            return rules.after_workdays(limits.after, int(choice[1:]), org.calendar)
        chosen = rules.parse_date(choice, limits.today)
        if chosen is None:
            raise Refused("ext_date_unreadable")
        problem = rules.check_date(kind, chosen, limits, org.calendar)
        if problem is not None:
            raise Refused(
                problem.value,
                after=limits.after.strftime("%m-%d"),
                days=rules.MAX_DAYS[kind],
            )
        return chosen

    async def request(
        self, user_id: int, issue_id: int, kind: Kind, reason: str, choice: str
    ) -> Answer:
        """Ask for an extension to (or a 挂账 reviewed on) the chosen date: `choice` is a
        button's "+N" (working days) or a typed date. The deciders get the request."""
        reason = clean_text(reason, self.max_text_length)
        org = await self.organisations.current()
        moment = self.clock.now()
        now = to_epoch(moment)
        async with self.db.write() as tx:
            issue = await self._holding(tx, user_id, issue_id, kind)
            chosen = self._chosen(choice.strip(), self._limits(issue, kind, org), kind, org)
            until = self._until(chosen, kind, issue, org)
            request = await store.add(tx, issue_id, kind, user_id, now, reason, until)
            if request is None:
                raise Refused("ext_already_pending", id=issue_id)
            await note_event(
                tx, issue, user_id, rules.ASK[kind].value, now, f"{chosen.isoformat()} {reason}"
            )
            head = await people.department_head(tx, issue.department_code)
            deciders = (
                [head]
                if rules.approver(kind, issue.assignee_id, head) == Approver.HEAD and head
                else await people.active_admins(tx)
            )
            names = await self.notices.issue_names(tx, issue)
            for decider in deciders:
                lang = await self.notices.language(tx, decider)
                await self.notices.tell(
                    tx,
                    decider,
                    now,
                    rules.MESSAGES[kind].decide,
                    issue=issue,
                    buttons=decision_buttons(lang, request.id),
                    id=issue_id,
                    member=names.person(user_id),
                    category=names.category(issue.category_code),
                    reason=reason,
                    due=_day(issue.resolve_deadline, org),
                    until=chosen.strftime("%m-%d"),
                )
        self.on_commit()
        return Answer(
            rules.MESSAGES[kind].requested, {"id": issue_id, "until": chosen.strftime("%m-%d")}
        )

    def _until(self, chosen: date, kind: Kind, issue: IssueRecord, org: Organisation) -> int:
        if kind == Kind.EXTEND:
            ends = org.office_day_ends(issue.department_code or "")
            return to_epoch(rules.due_at(chosen, ends, org.timezone))
        return to_epoch(rules.due_at(chosen, REVIEW_AT, org.timezone))

    # --- deciding ----------------------------------------------------------------------

    async def _deciding(
        self, conn: aiosqlite.Connection, user_id: int, request_id: int
    ) -> tuple[ExtensionRequest, IssueRecord]:
        """The pending request and its issue, if `user_id` may decide it now."""
        actor = await people.load_actor(conn, user_id)
        if not actor.registered:
            raise Refused("not_registered")
        request = await store.get(conn, request_id)
        issue = await issue_store.get_issue(conn, request.issue_id) if request else None
        if request is None or issue is None:
            raise Refused("ans_not_found")
        head = await people.department_head(conn, issue.department_code)
        decider = rules.approver(request.kind, request.requested_by, head)
        if not (actor.admin or (decider == Approver.HEAD and user_id == head)):
            raise Refused("ans_not_allowed")
        if user_id == request.requested_by and (
            decider == Approver.HEAD or any(a != user_id for a in await self.notices.admins(conn))
        ):
            # Nobody decides their own request while somebody else can (an admin who holds
            # the issue, or a head who is also an admin).
            raise Refused("ans_not_allowed")
        if request.status != "pending":
            raise Refused("ext_already_decided", id=issue.id)
        if await self._lapsed(conn, request):
            raise Refused("ext_issue_moved", id=issue.id)
        return request, issue

    async def check_decision(self, user_id: int, request_id: int) -> int:
        """Refused unless `user_id` may decide the request now; its issue's number."""
        _, issue = await self._deciding(self.db.reader, user_id, request_id)
        return issue.id

    async def approve(self, user_id: int, request_id: int) -> Answer:
        org = await self.organisations.current()
        moment = self.clock.now()
        now = to_epoch(moment)
        async with self.db.write() as tx:
            request, issue = await self._deciding(tx, user_id, request_id)
            if not await store.decide(tx, request_id, True, user_id, now):
                raise Refused("ext_already_decided", id=issue.id)
            action = rules.APPROVE[request.kind]
            target = next_state(issue.state, action)
            if request.kind == Kind.EXTEND:
                changes: dict[str, object] = {
                    "resolve_deadline": request.until,
                    "original_resolve_deadline": issue.original_resolve_deadline
                    or issue.resolve_deadline,
                }
            else:
                changes = {"held_until": request.until, "held_at": now}
            try:
                updated = await move_issue(
                    tx, issue, user_id, action, target, now, _day(request.until, org), **changes
                )
            except Refused:
                raise Refused("ext_issue_moved", id=issue.id) from None
            await alerts.cancel(tx, issue.id, now)
            if request.kind == Kind.EXTEND:
                await alerts.schedule(
                    tx,
                    issue.id,
                    alerts_for(DeadlineKind.RESOLVE, moment, from_epoch(request.until)),
                )
            else:
                await self._plan_review(tx, issue.id, request.until)
            await self.notices.refresh_cards(tx, updated, now)
            await self.notices.tell(
                tx,
                request.requested_by,
                now,
                rules.MESSAGES[request.kind].approved,
                issue=updated,
                id=issue.id,
                until=_day(request.until, org),
            )
        self.on_commit()
        return Answer(rules.MESSAGES[request.kind].approved_done, {"id": issue.id})

    async def _reviewed(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        action: Action,
        org: Organisation,
        moment: datetime,
        review_day: date | None,
    ) -> tuple[dict[str, object], str | None]:
        """What a review changes on the issue, the day it names (the new resolve deadline
        or review date: `review_day`, already checked, for 延长挂账), and the alerts it plans."""
        if action == Action.RESUME:
            category = org.categories.get(issue.category_code) or await org_store.category_rules(
                tx, issue.category_code
            )
            assert category is not None
            resolve_by = deadlines_in(
                org, issue.department_code or "", category, issue.urgent, moment
            ).resolve_by
            await alerts.schedule(
                tx, issue.id, alerts_for(DeadlineKind.RESOLVE, moment, resolve_by)
            )
            changes: dict[str, object] = {
                "resolve_deadline": to_epoch(resolve_by),
                "held_until": None,
            }
            return changes, _day(to_epoch(resolve_by), org)
        if action == Action.EXTEND_HOLD:
            assert review_day is not None, "延长挂账 names its new review date"
            until = to_epoch(rules.due_at(review_day, REVIEW_AT, org.timezone))
            await self._plan_review(tx, issue.id, until)
            return {"held_until": until}, _day(until, org)
        return {"closed_at": to_epoch(moment), "held_until": None}, None

    @staticmethod
    async def _plan_review(tx: aiosqlite.Connection, issue_id: int, review_at: int) -> None:
        due = from_epoch(review_at)
        await alerts.schedule(tx, issue_id, [Alert(DeadlineKind.HOLD, AlertStep.ADMINS, due, due)])

    async def refuse(self, user_id: int, request_id: int, reason: str) -> Answer:
        reason = clean_text(reason, self.max_text_length)
        now = to_epoch(self.clock.now())
        async with self.db.write() as tx:
            request, issue = await self._deciding(tx, user_id, request_id)
            if not await store.decide(tx, request_id, False, user_id, now, reason):
                raise Refused("ext_already_decided", id=issue.id)
            await note_event(tx, issue, user_id, rules.REFUSE[request.kind].value, now, reason)
            await self.notices.tell(
                tx,
                request.requested_by,
                now,
                rules.MESSAGES[request.kind].refused,
                issue=issue,
                id=issue.id,
                reason=reason,
            )
        self.on_commit()
        return Answer("ext_refused_done", {"id": issue.id})

    # --- reviewing a 挂账 ----------------------------------------------------------------

    async def _reviewing(
        self, conn: aiosqlite.Connection, user_id: int, issue_id: int, action: Action
    ) -> tuple[IssueRecord, State]:
        """The issue in 挂账 and the state `action` takes it to, if `user_id` (an admin)
        may review it now; else Refused."""
        if not (await people.load_actor(conn, user_id)).admin:
            raise Refused("not_admin")
        issue = await issue_store.get_issue(conn, issue_id)
        if issue is None:
            raise Refused("ans_not_found")
        try:
            return issue, next_state(issue.state, action)
        except TransitionRefused:
            raise Refused("ans_stale", state=issue.state) from None

    async def hold_more_prompt(self, user_id: int, issue_id: int) -> Rendered:
        """延长挂账 tapped at a review: the question for the new review date, with the
        working-day buttons (counted from today) — or a date typed like a 延期's."""
        conn = self.db.reader
        await self._reviewing(conn, user_id, issue_id, Action.EXTEND_HOLD)
        org = await self.organisations.current()
        lang = await self.notices.language(conn, user_id)
        today = self.clock.now().astimezone(org.timezone).date()
        buttons = _workday_buttons(lang, org, today, rules.CHOICES[Kind.HOLD], f"hm:{issue_id}")
        return Rendered(text(lang, "hold_more_ask_date", id=issue_id), buttons)

    async def review(self, user_id: int, issue_id: int, choice: str, day: str = "") -> Answer:
        """An admin reviews a 挂账: "go" back to work with a new resolve deadline (by the
        category's rule, from now), "more" to a new review date — `day`, a +N working days
        button's "+N" or a typed date checked like a 挂账 request's (another
        HOLD_EXTEND_WORKDAYS working days when not given) — or "close" it."""
        org = await self.organisations.current()
        moment = self.clock.now()
        now = to_epoch(moment)
        if choice not in rules.REVIEW_ACTIONS:
            raise Refused("ans_bad_button")
        action = rules.REVIEW_ACTIONS[choice]
        async with self.db.write() as tx:
            issue, target = await self._reviewing(tx, user_id, issue_id, action)
            chosen: date | None = None
            if action == Action.EXTEND_HOLD:
                today = moment.astimezone(org.timezone).date()
                chosen = self._chosen(
                    day.strip() or f"+{rules.HOLD_EXTEND_WORKDAYS}",
                    Limits(after=today, today=today),
                    Kind.HOLD,
                    org,
                )
            await alerts.cancel(tx, issue_id, now)
            changes, note = await self._reviewed(tx, issue, action, org, moment, chosen)
            updated = await move_issue(tx, issue, user_id, action, target, now, note, **changes)
            await self.notices.refresh_cards(tx, updated, now)
            if updated.assignee_id is not None:
                await self.notices.tell(
                    tx,
                    updated.assignee_id,
                    now,
                    rules.REVIEW_NOTICES[action],
                    issue=updated,
                    id=issue_id,
                    until=note or "-",
                )
        self.on_commit()
        return Answer(rules.REVIEW_DONE[action], {"id": issue_id, "until": note or "-"})
