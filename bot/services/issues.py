"""Everything that happens to an issue after it is reported, in one place.

Each public method is one transaction: check the person (permissions), check the
state (lifecycle), write the change and its event row, and write the messages it
requires to the outbox. A refused request raises `Refused` and changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.callbacks import IssueButton, IssueCallback, Rating
from bot.clock import to_epoch
from bot.deadlines import DeadlineKind, alerts_for, deadlines_in
from bot.i18n import Html, plain, text
from bot.labels import RATING_KEYS
from bot.lifecycle import ASSIGNED_STATES, Action, State, TransitionRefused, next_state
from bot.numbers import parse_id
from bot.organisation import Category, Organisation
from bot.permissions import Actor, IssueFacts, may, may_see
from bot.records import Draft, IssueRecord, NewIssue
from bot.routing import Route, RouteReason, Staff, choose_member
from bot.services import whistle_rules
from bot.services.context import Service, ServiceContext
from bot.services.refusal import Refused
from bot.services.reports import ReportService, check_report_quota
from bot.services.timeline import move_issue
from bot.views import (
    Answer,
    Rendered,
    issue_list,
    offers,
    rating_buttons,
    report_receipt,
    resolution_buttons,
    timeline,
)
from storage import alerts, people
from storage import drafts as draft_store
from storage import extensions as extension_store
from storage import followers as follower_store
from storage import issues as store
from storage import org as org_store
from storage import whistles as whistle_store


@dataclass(frozen=True)
class Tap:
    """A tapped button: the data it carried (as `IssueCallback.encode` writes it) and the
    chat of the message it was on."""

    data: str
    chat_id: int


@dataclass(frozen=True)
class Pressed:
    """What a button that acts at once did: the tap's short answer (None: a bare answer),
    whether the buttons on the tapped message are spent, and a message to send after."""

    answer: Answer | None
    spent: bool = False
    message: Rendered | None = None


@dataclass(frozen=True)
class Redispatched:
    """Where `IssueService.redispatch` put an issue: with a department's member, waiting in
    the department's group (member None), or before the admins (department None)."""

    issue: IssueRecord
    department: str | None
    member: int | None

    def __str__(self) -> str:
        if self.department is None:
            return f"#{self.issue.id} → admins (nobody can take it)"
        if self.member is None:
            return f"#{self.issue.id} → {self.department} group (nobody can be reached)"
        return f"#{self.issue.id} → {self.department} {self.member}"


class IssueService(Service):
    def __init__(
        self, context: ServiceContext, reports: ReportService, reports_per_hour: int = 30
    ) -> None:
        super().__init__(context)
        self.reports = reports
        self.reports_per_hour = reports_per_hour

    # --- checks shared by every change -------------------------------------------------

    @staticmethod
    async def _facts(
        conn: aiosqlite.Connection, user_id: int, issue_id: int
    ) -> tuple[IssueRecord, Actor, IssueFacts]:
        """The issue, the person (registered, else Refused) and what the permission checks
        need to know about the issue; Refused when there is no such issue."""
        found = await store.issue_and_involved(conn, issue_id)
        actor = await people.load_actor(conn, user_id)
        if not actor.registered:
            raise Refused("not_registered")
        if found is None:
            raise Refused("ans_not_found")
        issue, involved = found
        facts = IssueFacts(
            reporter_id=issue.reporter_id,
            state=issue.state,
            department=issue.department_code,
            assignee_id=issue.assignee_id,
            involved=involved,
            followers=frozenset(await follower_store.followers(conn, issue_id)),
        )
        return issue, actor, facts

    async def _load(
        self,
        tx: aiosqlite.Connection,
        user_id: int,
        issue_id: int,
        action: Action,
        tap: Tap | None = None,
    ) -> tuple[IssueRecord, Actor, State]:
        """The issue, the person and the state the action leads to, or Refused. Asked by a
        `tap`, also Refused unless what this person sees of the issue in that chat offers
        that very button now: forged button data is refused however it is made."""
        issue, actor, facts = await self._facts(tx, user_id, issue_id)
        if not may(actor, action, facts):
            if not may_see(actor, facts):
                raise Refused("ans_not_found")
            raise Refused("ans_not_allowed")
        try:
            target = next_state(issue.state, action)
        except TransitionRefused:
            if action == Action.ACKNOWLEDGE and issue.acknowledged_at is not None:
                names = await self.notices.display_names(tx, {issue.assignee_id or 0})
                raise Refused("ans_taken", name=names.get(issue.assignee_id or 0, "-")) from None
            if action == Action.RATE and issue.rating:
                raise Refused("ans_already_rated") from None
            raise Refused("ans_stale", state=issue.state) from None
        if action == Action.RESOLVE:
            await whistle_rules.resolve_gate(tx, self.notices, issue)  # 联合吹哨
        if tap is not None:
            if action == Action.RATE and issue.rating:
                raise Refused("ans_already_rated")
            seen = await self.notices.buttons_seen(tx, issue, user_id, tap.chat_id)
            if not offers(seen, tap.data):
                raise Refused("ans_bad_button")
        return issue, actor, target

    @asynccontextmanager
    async def _changing(
        self, user_id: int, issue_id: int, action: Action, tap: Tap | None = None
    ) -> AsyncIterator[tuple[aiosqlite.Connection, IssueRecord, State, int]]:
        """One change as one transaction: the clock read, the issue loaded and checked
        (`_load`) in a write transaction, and the commit hook run once it has committed.
        Yields the transaction, the issue, the state the action leads to and the time."""
        _, now = self._now()
        async with self.db.write() as tx:
            issue, _, target = await self._load(tx, user_id, issue_id, action, tap)
            yield tx, issue, target, now
        self.on_commit()

    async def check(
        self, user_id: int, issue_id: int, action: Action, tap: Tap | None = None
    ) -> None:
        """Refused unless `user_id` may do `action` to the issue now (asking before typing)."""
        await self._load(self.db.reader, user_id, issue_id, action, tap)

    # --- report and dispatch ---------------------------------------------------------

    async def submit(self, user_id: int, ask_whistle: bool = False) -> IssueRecord:
        """Turn the user's finished draft into an issue and dispatch it, all in one commit
        (申请吹哨, `ask_whistle`: put it before the admins to blow a whistle instead)."""
        org = await self.organisations.current()
        moment, now = self._now()
        draft = await self.reports.current(user_id)
        if draft is None:
            raise Refused("report_already_submitted")
        issue: IssueRecord | None = None
        try:
            async with self.db.write() as tx:
                # The draft is consumed only if it is still the one read: a second tap
                # on 提交 finds it gone and changes nothing.
                if not await draft_store.delete_draft(tx, user_id, draft.draft_key):
                    raise Refused("report_already_submitted")
                await check_report_quota(tx, user_id, now, self.reports_per_hour)
                actor = await people.load_actor(tx, user_id)
                # A draft for a grid the person no longer works on cannot be submitted:
                # its deletion is committed and nothing else is written.
                if draft.grid_code in actor.grids and draft.grid_code in org.grids:
                    if draft.category_code not in org.categories or not draft.description:
                        raise Refused("report_category_gone")
                    issue = await self._insert_report(tx, org, draft, moment, ask_whistle)
        finally:
            self.reports.forget(user_id)
        if issue is None:
            raise Refused("report_grid_gone")
        self.on_commit()
        return issue

    async def submit_report(self, user_id: int, ask_whistle: bool = False) -> Rendered:
        """`submit`, answered with the receipt the reporter reads (in their language)."""
        issue = await self.submit(user_id, ask_whistle)
        conn = self.db.reader
        names = await self.notices.issue_names(conn, issue)
        lang = await self.notices.language(conn, user_id)
        if ask_whistle:
            return Rendered(text(lang, "wh_asked_receipt", id=issue.id))  # 联合吹哨
        return Rendered(report_receipt(lang, issue, names, self.notices.zone))

    async def _insert_report(
        self,
        tx: aiosqlite.Connection,
        org: Organisation,
        draft: Draft,
        moment: datetime,
        ask_whistle: bool = False,
    ) -> IssueRecord:
        now = to_epoch(moment)
        assert draft.grid_code is not None and draft.category_code is not None
        assert draft.description is not None
        issue = await store.insert_issue(
            tx,
            NewIssue(
                reporter_id=draft.user_id,
                grid_code=draft.grid_code,
                category_code=draft.category_code,
                description=draft.description,
                urgent=bool(draft.urgent),
                latitude=draft.latitude,
                longitude=draft.longitude,
                address=draft.address,
                draft_key=draft.draft_key,
            ),
            now,
        )
        await store.add_photos(tx, issue.id, "report", draft.photos)
        await store.add_event(
            tx, issue.id, now, draft.user_id, Action.REPORT.value, None, State.REPORTED, None, None
        )
        if ask_whistle:
            # 联合吹哨: 申请吹哨 — before the admins with the 吹哨 button, not dispatched.
            await whistle_rules.asked(tx, self.notices, issue, draft.user_id, now)
            return issue
        department = org.department_for(issue.category_code, issue.grid_code)
        route = await self._choose(tx, org, department, moment)
        return await self._dispatch(tx, issue, route, None, Action.DISPATCH, moment)

    async def _choose(
        self,
        tx: aiosqlite.Connection,
        org: Organisation,
        department: str,
        moment: datetime,
        exclude: frozenset[int] = frozenset(),
    ) -> Route:
        """By the routing rules, leaving out `exclude` and everybody recorded as unreachable
        (blocked the bot, never opened a chat with it): a push to them would never arrive."""
        if department not in org.departments:
            return Route(department, None, RouteReason.NOBODY)
        staff = await self._staff(tx, department)
        candidates = [*staff.everyone]
        candidates += [s.member for s in org.shifts if s.department == department]
        candidates = sorted(set(candidates))
        load = await store.member_loads(tx, candidates)
        unreachable = await people.unreachable(tx, candidates)
        return choose_member(org, department, moment, load, exclude | unreachable, staff)

    # --- for other services, inside their own transaction ------------------------------

    async def member_on_duty(
        self, tx: aiosqlite.Connection, org: Organisation, department: str, moment: datetime
    ) -> int | None:
        """The member the routing rules would give a new issue of `department` now (on duty
        by the roster, else the least loaded), nobody recorded unreachable; None when the
        department has nobody who can be reached. Reads only: for a service that pushes to
        a department without giving it the issue (联合吹哨's summons)."""
        return (await self._choose(tx, org, department, moment)).member

    async def hand_to(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        department: str,
        actor_id: int,
        moment: datetime,
    ) -> IssueRecord:
        """Inside the caller's transaction `tx`: give the issue to `department` as an
        admin's reroute does (the member routing picks, deadlines restarted, cards
        refreshed, the push). The caller has checked that `actor_id` may (联合吹哨: the
        lead department holds the whistle's issue)."""
        org = await self.organisations.current()
        route = await self._choose(tx, org, department, moment)
        return await self._dispatch(tx, issue, route, actor_id, Action.REROUTE, moment)

    async def _staff(self, tx: aiosqlite.Connection, department: str) -> Staff:
        """Who the department has now: the file's members and head and those invited,
        none retired or revoked (every grant, the file's too, is a role_grant row)."""
        return Staff(
            tuple(await people.department_members(tx, department)),
            tuple(await people.department_heads(tx, department)),
        )

    # --- when the holder can no longer act -------------------------------------------

    async def redispatch(self, issue_id: int, reason: str) -> Redispatched | None:
        """Move an open issue away from the member who holds it and can no longer act on it
        (retired by an import, revoked, unreachable); `reason` is the event's note. None,
        and nothing changed, when the issue is no longer held by a department."""
        moment = self.clock.now()
        async with self.db.write() as tx:
            issue = await store.get_issue(tx, issue_id)
            if issue is None or issue.state not in ASSIGNED_STATES:
                return None
            moved = await self._redispatch(tx, issue, reason, moment)
        self.on_commit()
        return moved

    async def _redispatch(
        self, tx: aiosqlite.Connection, issue: IssueRecord, reason: str, moment: datetime
    ) -> Redispatched:
        """The one rule for an issue whose holder cannot act: to the member routing picks
        now in the issue's department (or, where that department is gone, the one its
        category and grid lead to), never the holder nor anybody recorded unreachable, with
        deadlines restarted as after a reroute. Where the department's other staff are
        all unreachable but it has a group, the issue waits there for any of them to tap
        报到. Where nobody at all can take it, it goes back to the admins at once (state
        transferred, so /pending lists it) with the 改派 buttons, its alerts stopped. The
        reporter is told who holds it now."""
        org = await self.organisations.current()
        now = to_epoch(moment)
        department = issue.department_code or ""
        if department not in org.departments and issue.category_code in org.categories:
            department = org.department_for(issue.category_code, issue.grid_code)
        leaving = frozenset({issue.assignee_id} if issue.assignee_id is not None else ())
        route = await self._choose(tx, org, department, moment, leaving)
        staff = await self._staff(tx, department)
        others = staff.everyone - leaving if department in org.departments else set()
        if route.member is not None or others:
            updated = await self._dispatch(
                tx, issue, route, None, Action.REDISPATCH, moment, reason
            )
            moved = Redispatched(updated, department, route.member)
            if route.member is not None:
                key = "rc_redispatched"
            elif await self.notices.group_chat(tx, department) is not None:
                key = "rc_redispatched_group"
            else:
                key = "rc_redispatched_street"
        else:
            updated = await self._release(tx, issue, now, reason)
            moved = Redispatched(updated, None, None)
            key = "rc_redispatched_street"
        names = await self.notices.issue_names(tx, updated)
        await self.notices.tell(
            tx,
            updated.reporter_id,
            now,
            key,
            issue=updated,
            id=updated.id,
            department=names.department(department),
            member=names.person(updated.assignee_id),
        )
        return moved

    async def _release(
        self, tx: aiosqlite.Connection, issue: IssueRecord, now: int, reason: str
    ) -> IssueRecord:
        """The issue back to the admins, with the 改派 buttons."""
        updated = await move_issue(
            tx, issue, None, Action.RELEASE, State.TRANSFERRED, now, reason, assignee_id=None
        )
        await alerts.cancel(tx, issue.id, now)
        await self.notices.refresh_cards(tx, updated, now)
        names = await self.notices.issue_names(tx, updated)
        await self.notices.push_to_admins(
            tx,
            updated,
            now,
            "ad_released",
            id=issue.id,
            category=names.category(updated.category_code),
            department=names.department(updated.department_code),
            reason=reason,
        )
        return updated

    async def redispatch_stranded(self, reason: str) -> list[Redispatched]:
        """`redispatch` every open issue whose department is retired or whose assignee no
        longer serves it (after an import or a revocation), one transaction each."""
        moved: list[Redispatched] = []
        for issue in await store.stranded(self.db.reader):
            done = await self.redispatch(issue.id, reason)
            if done is not None:
                moved.append(done)
        return moved

    @staticmethod
    async def _rules(tx: aiosqlite.Connection, org: Organisation, code: str) -> Category:
        """A category's deadline rules: from the current organisation, else as stored."""
        rules = org.categories.get(code) or await org_store.category_rules(tx, code)
        assert rules is not None
        return rules

    async def _dispatch(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        route: Route,
        actor_id: int | None,
        action: Action,
        moment: datetime,
        note: str | None = None,
    ) -> IssueRecord:
        now = to_epoch(moment)
        org = await self.organisations.current()
        rules = await self._rules(tx, org, issue.category_code)
        due = deadlines_in(org, route.department, rules, issue.urgent, moment)
        if issue.dispatched_at is not None:
            # Alerts are only ever scheduled once an issue is dispatched: a new report has none.
            await alerts.cancel(tx, issue.id, now)
        await alerts.schedule(
            tx,
            issue.id,
            [
                *alerts_for(DeadlineKind.ACK, moment, due.acknowledge_by),
                *alerts_for(DeadlineKind.RESOLVE, moment, due.resolve_by),
            ],
        )
        updated = await move_issue(
            tx,
            issue,
            actor_id,
            action,
            next_state(issue.state, action),
            now,
            note,
            department_code=route.department,
            assignee_id=route.member,
            dispatched_at=now,
            acknowledged_at=None,
            resolved_at=None,
            ack_deadline=to_epoch(due.acknowledge_by),
            resolve_deadline=to_epoch(due.resolve_by),
            original_resolve_deadline=None,  # extensions: a new deadline starts unextended
        )
        await self._announce_dispatch(tx, updated, route, org, now)
        return updated

    async def _announce_dispatch(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        route: Route,
        org: Organisation,
        now: int,
    ) -> None:
        """The cards and the push to whoever now holds the issue; the admins when nobody
        can be reached, the group when only its members cannot."""
        await self.notices.refresh_cards(tx, issue, now)
        pushed = await self.notices.push(tx, issue, now)
        # Nobody to push to although the department has people: all of them unreachable.
        staffed = route.department in org.departments and bool(
            (await self._staff(tx, route.department)).everyone
        )
        if not pushed:
            names = await self.notices.issue_names(tx, issue)
            await self.notices.push_to_admins(
                tx,
                issue,
                now,
                "ad_unreachable_all" if staffed else "ad_unrouted",
                id=issue.id,
                category=names.category(issue.category_code),
                department=names.department(route.department),
            )
        elif route.member is None and staffed:
            await self.notices.tell(
                tx, pushed[0], now, "gr_unreachable_all", issue=issue, id=issue.id
            )

    async def redispatch_unreachable(self, user_id: int | None = None) -> list[Redispatched]:
        """Every issue waiting for 报到 from somebody recorded as unreachable (that person,
        or anybody) is redispatched. Issues they already accepted stay theirs: reminders
        about those go to the department instead (EscalationService)."""
        moved: list[Redispatched] = []
        for issue_id in await store.waiting_on_unreachable(self.db.reader, user_id):
            moment = self.clock.now()
            async with self.db.write() as tx:
                issue = await store.get_issue(tx, issue_id)
                if (
                    issue is None
                    or issue.state != State.DISPATCHED
                    or issue.assignee_id is None
                    or not await people.unreachable(tx, [issue.assignee_id])
                ):
                    continue
                names = await self.notices.names(tx, [issue.assignee_id])
                reason = plain(
                    self.notices.languages.default,
                    "rd_reason_unreachable",
                    name=names.person(issue.assignee_id),
                )
                moved.append(await self._redispatch(tx, issue, reason, moment))
        if moved:
            self.on_commit()
        return moved

    # --- the department's side ---------------------------------------------------------

    async def acknowledge(self, user_id: int, issue_id: int, tap: Tap | None = None) -> IssueRecord:
        async with self._changing(user_id, issue_id, Action.ACKNOWLEDGE, tap) as change:
            tx, issue, target, now = change
            updated = await move_issue(
                tx,
                issue,
                user_id,
                Action.ACKNOWLEDGE,
                target,
                now,
                assignee_id=user_id,
                acknowledged_at=now,
            )
            await alerts.cancel(tx, issue_id, now, DeadlineKind.ACK)
            await self.notices.refresh_cards(tx, updated, now)
            names = await self.notices.issue_names(tx, updated)
            await self.notices.tell(
                tx,
                updated.reporter_id,
                now,
                "rc_acknowledged",
                issue=updated,
                id=issue_id,
                department=names.department(updated.department_code),
                member=names.person(user_id),
            )
        return updated

    async def transfer(self, user_id: int, issue_id: int, reason: str) -> IssueRecord:
        async with self._changing(user_id, issue_id, Action.TRANSFER) as change:
            tx, issue, target, now = change
            updated = await move_issue(
                tx,
                issue,
                user_id,
                Action.TRANSFER,
                target,
                now,
                note=reason,
                assignee_id=None,
                transfer_count=issue.transfer_count + 1,
            )
            await alerts.cancel(tx, issue_id, now)
            names = await self.notices.names(tx, [user_id, issue.reporter_id])
            department = names.department(issue.department_code)
            await self.notices.refresh_cards(tx, updated, now)
            await self.notices.tell(
                tx,
                issue.reporter_id,
                now,
                "rc_transferred",
                issue=updated,
                id=issue_id,
                department=department,
                reason=reason,
            )
            await self.notices.push_to_admins(
                tx,
                updated,
                now,
                "ad_transferred",
                id=issue_id,
                category=names.category(issue.category_code),
                grid=names.grid(issue.grid_code),
                department=department,
                member=names.person(user_id),
                reason=reason,
            )
        return updated

    async def reroute(
        self,
        user_id: int,
        issue_id: int,
        department: str,
        member: int | None = None,
        tap: Tap | None = None,
    ) -> Answer:
        """Send the issue to `department` (and `member`, else whom routing picks): the
        admins' /reroute and their 改派 buttons. Asked without a tap, anybody who is not an
        admin is refused with `not_admin`; a tap is checked against the buttons its chat
        shows (heads move an issue within their department with `reassign`)."""
        if tap is None and not (await people.load_actor(self.db.reader, user_id)).admin:
            raise Refused("not_admin")
        issue = await self._reroute(user_id, issue_id, department, member, tap)
        names = await self.notices.issue_names(self.db.reader, issue)
        return Answer("done_reroute", {"id": issue.id, "department": names.department(department)})

    async def _reroute(
        self,
        user_id: int,
        issue_id: int,
        department: str,
        member: int | None = None,
        tap: Tap | None = None,
    ) -> IssueRecord:
        org = await self.organisations.current()
        moment, _ = self._now()
        async with self.db.write() as tx:
            issue, actor, _ = await self._load(tx, user_id, issue_id, Action.REROUTE, tap)
            if department not in org.departments:
                raise Refused("unknown_department", code=department)
            dept = org.departments[department]
            staff = await self._staff(tx, department)
            if member is not None and member not in staff.everyone:
                raise Refused("not_a_member", member=member, department=dept.name)
            if not actor.admin and department != issue.department_code:
                raise Refused("ans_not_allowed")
            if member is not None and await people.unreachable(tx, [member]):
                names = await self.notices.names(tx, [member])
                raise Refused("member_unreachable", name=names.person(member), member=member)
            route = (
                Route(department, member, RouteReason.ON_DUTY)
                if member is not None
                else await self._choose(tx, org, department, moment)
            )
            updated = await self._dispatch(tx, issue, route, user_id, Action.REROUTE, moment)
            names = await self.notices.issue_names(tx, updated)
            await self.notices.tell(
                tx,
                updated.reporter_id,
                to_epoch(moment),
                "rc_dispatched",
                issue=updated,
                id=issue_id,
                department=names.department(department),
                member=names.person(updated.assignee_id),
            )
        self.on_commit()
        return updated

    async def reassign(
        self, user_id: int, issue_id: int, member: int, tap: Tap | None = None
    ) -> Answer:
        """Give the issue to another member of the department that holds it (heads, admins)."""
        issue = await store.get_issue(self.db.reader, issue_id)
        if issue is None or issue.department_code is None:
            raise Refused("ans_not_found")
        moved = await self._reroute(user_id, issue_id, issue.department_code, member, tap)
        names = await self.notices.issue_names(self.db.reader, moved)
        return Answer("done_reassign", {"id": moved.id, "name": names.person(moved.assignee_id)})

    async def progress(self, user_id: int, issue_id: int, note: str) -> IssueRecord:
        async with self._changing(user_id, issue_id, Action.PROGRESS) as change:
            tx, issue, target, now = change
            updated = await move_issue(tx, issue, user_id, Action.PROGRESS, target, now, note)
            names = await self.notices.names(tx, [user_id])
            await self.notices.tell(
                tx,
                issue.reporter_id,
                now,
                "rc_progress",
                issue=updated,
                id=issue_id,
                member=names.person(user_id),
                note=note,
            )
        return updated

    async def resolve(
        self, user_id: int, issue_id: int, note: str, photos: list[tuple[str, str | None]]
    ) -> IssueRecord:
        async with self._changing(user_id, issue_id, Action.RESOLVE) as change:
            tx, issue, target, now = change
            updated = await move_issue(
                tx,
                issue,
                user_id,
                Action.RESOLVE,
                target,
                now,
                note,
                resolved_at=now,
            )
            await alerts.cancel(tx, issue_id, now)
            await store.add_photos(tx, issue_id, "resolution", photos)
            await self.notices.refresh_cards(tx, updated, now)
            reporter_lang = await self.notices.language(tx, issue.reporter_id)
            if photos:
                caption = plain(reporter_lang, "resolution_photos_caption", id=issue_id)
                await self.notices.photos(
                    tx, issue.reporter_id, updated, [p for p, _ in photos], caption, now
                )
            names = await self.notices.names(tx, [user_id])
            await self.notices.tell(
                tx,
                issue.reporter_id,
                now,
                "rc_resolved",
                issue=updated,
                buttons=resolution_buttons(reporter_lang, issue_id),
                id=issue_id,
                member=names.person(user_id),
                note=note,
            )
        return updated

    # --- the reporter's side -----------------------------------------------------------

    async def confirm(self, user_id: int, issue_id: int, tap: Tap | None = None) -> Rendered:
        async with self._changing(user_id, issue_id, Action.CONFIRM, tap) as change:
            tx, issue, target, now = change
            updated = await move_issue(
                tx, issue, user_id, Action.CONFIRM, target, now, closed_at=now
            )
            await self.notices.refresh_cards(tx, updated, now)
            await whistle_rules.rating_cards(tx, self.notices, updated, now)  # 联合吹哨
            lang = await self.notices.language(tx, user_id)
        return Rendered(text(lang, "done_confirm", id=issue_id), rating_buttons(lang, issue_id))

    async def reopen(self, user_id: int, issue_id: int, reason: str) -> IssueRecord:
        moment, now = self._now()
        async with self.db.write() as tx:
            issue, _, target = await self._load(tx, user_id, issue_id, Action.REOPEN)
            org = await self.organisations.current()
            rules = await self._rules(tx, org, issue.category_code)
            resolve_by = deadlines_in(
                org, issue.department_code or "", rules, issue.urgent, moment
            ).resolve_by
            updated = await move_issue(
                tx,
                issue,
                user_id,
                Action.REOPEN,
                target,
                now,
                reason,
                resolved_at=None,
                reopen_count=issue.reopen_count + 1,
                resolve_deadline=to_epoch(resolve_by),
                original_resolve_deadline=None,  # extensions: a new deadline starts unextended
            )
            await alerts.schedule(
                tx, issue_id, alerts_for(DeadlineKind.RESOLVE, moment, resolve_by)
            )
            await whistle_rules.bring_back(tx, self.notices, updated, reason, now)  # 联合吹哨
            await self.notices.refresh_cards(tx, updated, now)
            await self.notices.tell_holder(tx, updated, now, "mc_reopened", reason=reason)
        self.on_commit()
        return updated

    async def rate(
        self, user_id: int, issue_id: int, rating: Rating, tap: Tap | None = None
    ) -> IssueRecord:
        async with self._changing(user_id, issue_id, Action.RATE, tap) as change:
            tx, issue, target, now = change
            if issue.rating:
                raise Refused("ans_already_rated")
            updated = await move_issue(
                tx, issue, user_id, Action.RATE, target, now, rating.value, rating=rating.value
            )
            await self.notices.refresh_cards(tx, updated, now)
            if updated.assignee_id is not None:
                lang = await self.notices.language(tx, updated.assignee_id)
                await self.notices.tell(
                    tx,
                    updated.assignee_id,
                    now,
                    "mc_rated",
                    issue=updated,
                    id=issue_id,
                    rating=plain(lang, RATING_KEYS[rating]),
                )
        return updated

    async def cancel(self, user_id: int, issue_id: int, tap: Tap | None = None) -> IssueRecord:
        async with self._changing(user_id, issue_id, Action.CANCEL, tap) as change:
            tx, issue, target, now = change
            updated = await move_issue(
                tx, issue, user_id, Action.CANCEL, target, now, cancelled_at=now
            )
            await alerts.cancel(tx, issue_id, now)
            await self.notices.refresh_cards(tx, updated, now)
            if issue.assignee_id is not None and issue.assignee_id != user_id:
                await self.notices.tell(
                    tx, issue.assignee_id, now, "mc_cancelled", issue=updated, id=issue_id
                )
        return updated

    # --- buttons and notes, as the chat sends them ---------------------------------------

    async def press(self, user_id: int, button: IssueCallback, tap: Tap) -> Pressed:
        """A button that acts at once (报到, 确认, ratings, 改派, 撤销), checked like any
        request; a button that needs words is refused here (see `check`, `with_note`)."""
        issue_id = button.issue_id
        match button.button:
            case IssueButton.ACKNOWLEDGE:
                await self.acknowledge(user_id, issue_id, tap)
                return Pressed(Answer("ans_acknowledged"))
            case IssueButton.CONFIRM:
                return Pressed(None, spent=True, message=await self.confirm(user_id, issue_id, tap))
            case IssueButton.RATE:
                try:
                    rating = Rating(button.argument or "")
                except ValueError:
                    raise Refused("ans_bad_button") from None
                await self.rate(user_id, issue_id, rating, tap)
                return Pressed(Answer("done_rated"), spent=True)
            case IssueButton.REROUTE:
                return Pressed(
                    await self.reroute(user_id, issue_id, button.argument or "", tap=tap)
                )
            case IssueButton.REASSIGN:
                member = parse_id(button.argument, hash_allowed=False)
                if member is None:
                    raise Refused("ans_bad_button")
                return Pressed(await self.reassign(user_id, issue_id, member, tap))
            case IssueButton.CANCEL:
                await self.cancel(user_id, issue_id, tap)
                return Pressed(Answer("done_cancel_issue", {"id": issue_id}))
        raise Refused("ans_bad_button")

    async def with_note(
        self,
        user_id: int,
        action: Action,
        issue_id: int,
        note: str,
        photos: list[tuple[str, str | None]] | None = None,
    ) -> Answer:
        """退回, 进展, 办结 (with its photos) or 重办, once the person has written the note."""
        match action:
            case Action.TRANSFER:
                await self.transfer(user_id, issue_id, note)
                key = "done_transfer"
            case Action.PROGRESS:
                await self.progress(user_id, issue_id, note)
                key = "done_progress"
            case Action.RESOLVE:
                await self.resolve(user_id, issue_id, note, photos or [])
                key = "done_resolve"
            case Action.REOPEN:
                await self.reopen(user_id, issue_id, note)
                key = "done_reopen"
            case _:
                raise Refused("ans_bad_button")
        return Answer(key, {"id": issue_id})

    # --- looking things up -----------------------------------------------------------

    async def visible_issue(self, user_id: int, issue_id: int) -> IssueRecord:
        issue, actor, facts = await self._facts(self.db.reader, user_id, issue_id)
        if not may_see(actor, facts):
            raise Refused("ans_not_found")
        return issue

    async def details(self, user_id: int, issue_id: int) -> tuple[Rendered, Html]:
        """The issue's card (with the buttons this person may use) and its timeline."""
        issue = await self.visible_issue(user_id, issue_id)
        conn = self.db.reader
        history = await store.events(conn, issue_id)
        audience = await self.notices.audience(conn, issue, user_id)
        # One read of names serves the card (reporter, assignee) and the timeline.
        names = await self.notices.names(
            conn,
            {issue.reporter_id, issue.assignee_id}
            | {e.actor_id for e in history}
            | {e.assignee_id for e in history},
        )
        card = await self.notices.card(
            conn,
            issue,
            user_id,
            audience,
            names=names,
            resolution_note=await self.notices.resolution_note(conn, issue),
        )
        lang = await self.notices.language(conn, user_id)
        photos = await whistle_store.photo_counts(conn, issue_id)  # 联合吹哨: 配合完成's
        return card, timeline(lang, issue, history, names, self.notices.zone, photos)

    async def _list(
        self,
        conn: aiosqlite.Connection,
        user_id: int,
        found: list[IssueRecord],
        keys: tuple[str, str, str],
        **header: object,
    ) -> Rendered:
        """The found issues as a list in the person's language: (empty, header, line) keys."""
        lang = await self.notices.language(conn, user_id)
        empty, title, line = keys
        if not found:
            return Rendered(text(lang, empty))
        names = await self.notices.names(conn, [])
        return issue_list(
            lang,
            text(lang, title, **header),
            line,
            found,
            names,
            self.notices.zone,
            self.clock.now(),
        )

    async def my_reports(self, user_id: int, limit: int = 15) -> Rendered:
        """/my: the issues this person reported, newest first (anybody registered)."""
        conn = self.db.reader
        await self._registered(conn, user_id)
        found = await store.reported_by(conn, user_id, limit)
        return await self._list(
            conn, user_id, found, ("my_empty", "my_header", "my_line"), n=len(found)
        )

    async def to_do(self, user_id: int, limit: int = 30) -> Rendered:
        """/todo: the open issues this person or their departments hold, by deadline."""
        conn = self.db.reader
        actor = await self._registered(conn, user_id)
        found = await store.to_do(conn, actor.user_id, actor.departments, limit)
        # extensions and 挂账: still theirs, listed last with the review date
        found += await extension_store.held_issues(conn, limit, actor.user_id, actor.departments)
        return await self._list(conn, user_id, found, ("todo_empty", "todo_header", "todo_line"))

    async def pending(self, user_id: int, limit: int = 30) -> Rendered:
        """/pending: the issues handed back and waiting for an admin to reroute them."""
        conn = self.db.reader
        if not (await people.load_actor(conn, user_id)).admin:
            raise Refused("not_admin")
        found = await store.transferred(conn, limit)
        # extensions and 挂账: the issues in 挂账 wait for the admins' review
        held = await extension_store.held_issues(conn, limit)
        if not held:
            return await self._list(
                conn, user_id, found, ("pending_empty", "pending_header", "todo_line")
            )
        keys = ("pending_empty", "held_header", "todo_line")
        parts = [(await self._list(conn, user_id, held, keys)).text]
        if found:
            keys = ("pending_empty", "pending_header", "todo_line")
            parts.insert(0, (await self._list(conn, user_id, found, keys)).text)
        return Rendered(Html("\n\n".join(parts)))
