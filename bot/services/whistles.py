"""联合吹哨: blowing a whistle, 到场 on site, the arrival alerts, and the summoned
departments' part in working the issue to the end.

Each public method is one transaction, like IssueService's: check the person, check the
summoned department's state (bot/lifecycle.py's SummonState table), write the change, its
timeline event and its messages. A refused request raises `Refused` and changes nothing.
The issue itself goes to the lead department (a reroute when it is elsewhere) and keeps
its one state; the other departments are co-departments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot import gazetteer
from bot.callbacks import Rating
from bot.clock import from_epoch, to_epoch
from bot.deadlines import AlertStep, DeadlineKind, alerts_for
from bot.i18n import plain
from bot.labels import RATING_KEYS
from bot.lifecycle import (
    ASSIGNED_STATES,
    AWAITING_ARRIVAL,
    OPEN_STATES,
    State,
    SummonAction,
    SummonRefused,
    SummonState,
    next_summon_state,
)
from bot.organisation import Organisation
from bot.permissions import Actor
from bot.records import IssueRecord
from bot.services.context import Service, ServiceContext
from bot.services.issues import IssueService, Tap
from bot.services.refusal import Refused
from bot.services.timeline import note_event
from bot.views import Answer, Rendered, duration, local_time, offers
from bot.whistle_views import picker
from bot.whistles import CheckIn, Place, Summons, WhistleRecord, arrive_by, check_in
from storage import issues as store
from storage import people
from storage import whistles as whistle_store

WHISTLE_EVENT = "whistle"
ARRIVE_EVENT = "arrive"
CHECK_IN_FAR_EVENT = "check_in_far"
ARRIVE_ALERT_EVENT = "arrive_alert"
SUMMON_EVENT = "summon"
RELEASE_EVENT = "release_department"
CO_DONE_EVENT = "co_done"
RATE_REASON_EVENT = "street_rate_reason"


@dataclass(frozen=True)
class Steer:
    """An admin's step on a running whistle (add, release, override), in its transaction."""

    tx: aiosqlite.Connection
    org: Organisation
    issue: IssueRecord
    whistle: WhistleRecord
    user_id: int
    reason: str
    moment: datetime


_ARRIVAL_ESCALATIONS = {
    AlertStep.HEAD: "wh_es_arrive_head",
    AlertStep.ADMINS: "wh_es_arrive_admins",
}
"""A summoned department not yet on site: its head is told at the limit, the admins later."""


class WhistleService(Service):
    def __init__(self, context: ServiceContext, issues: IssueService) -> None:
        super().__init__(context)
        self.issues = issues

    # --- blowing the whistle -----------------------------------------------------------

    @staticmethod
    async def _admin(conn: aiosqlite.Connection, user_id: int) -> Actor:
        actor = await people.load_actor(conn, user_id)
        if not actor.registered:
            raise Refused("not_registered")
        if not actor.admin:
            raise Refused("not_admin")
        return actor

    async def _blowable(self, conn: aiosqlite.Connection, issue_id: int) -> IssueRecord:
        issue = await store.get_issue(conn, issue_id)
        if issue is None:
            raise Refused("ans_not_found")
        if issue.state not in OPEN_STATES:
            raise Refused("wh_not_open", id=issue_id)
        if await whistle_store.get_whistle(conn, issue_id) is not None:
            raise Refused("wh_already", id=issue_id)
        return issue

    async def needs_place(self, user_id: int, issue_id: int, codes: Sequence[str]) -> bool:
        """Refused unless the admin may blow this whistle now; True when the issue has no
        location, so the admin must give one."""
        org = await self.organisations.current()
        await self._admin(self.db.reader, user_id)
        issue = await self._blowable(self.db.reader, issue_id)
        self._departments(org, codes)
        return self._issue_place(org, issue) is None

    @staticmethod
    def _issue_place(org: Organisation, issue: IssueRecord) -> Place | None:
        """The issue's place: its location, else its address found in the street's
        gazetteer (bot/gazetteer.py), else None."""
        if issue.latitude is not None and issue.longitude is not None:
            return Place(issue.latitude, issue.longitude)
        if issue.address:
            found = gazetteer.find(org.places, issue.address)
            if isinstance(found, gazetteer.Found):
                return Place(found.place.latitude, found.place.longitude)
        return None

    async def blow_at(
        self, user_id: int, issue_id: int, codes: Sequence[str], address: str
    ) -> Answer:
        """`blow` at a place the admin names by address, found in the street's gazetteer;
        refused, politely and asking for a location pin, when it is not there or could be
        several places."""
        org = await self.organisations.current()
        found = gazetteer.find(org.places, address)
        if isinstance(found, gazetteer.Ambiguous):
            raise Refused("wh_place_ambiguous", address=address, places="、".join(found.names))
        if not isinstance(found, gazetteer.Found):
            raise Refused("wh_place_unknown", address=address)
        place = Place(found.place.latitude, found.place.longitude)
        done = await self.blow(user_id, issue_id, codes, place)
        return Answer("wh_done_blow_at", {**done.values, "place": found.place.name})

    @staticmethod
    def _departments(org: Organisation, codes: Sequence[str]) -> list[str]:
        chosen: list[str] = []
        for raw in codes:
            code = raw.strip().lower()
            if code not in org.departments:
                raise Refused("unknown_department", code=raw)
            if code not in chosen:
                chosen.append(code)
        if not chosen:
            raise Refused("wh_usage")
        return chosen

    async def picker(
        self, user_id: int, issue_id: int, picked: Sequence[str], tap: Tap | None = None
    ) -> Rendered:
        """The department picker for the admin's 吹哨 button (picked: in order, first leads)."""
        org = await self.organisations.current()
        conn = self.db.reader
        await self._admin(conn, user_id)
        issue = await self._blowable(conn, issue_id)
        if tap is not None and tap.chat_id == user_id:
            seen = await self.notices.buttons_seen(conn, issue, user_id, tap.chat_id)
            if tap.data.startswith("ws:") and not offers(seen, tap.data):
                raise Refused("ans_bad_button")
        for code in picked:
            if code not in org.departments:
                raise Refused("ans_bad_button")
        lang = await self.notices.language(conn, user_id)
        departments = [(code, d.name) for code, d in org.departments.items()]
        text, buttons = picker(lang, issue_id, departments, picked)
        return Rendered(text, buttons)

    async def blow(
        self, user_id: int, issue_id: int, codes: Sequence[str], place: Place | None = None
    ) -> Answer:
        """Summon `codes` (the first leads) to the issue, at the issue's place or `place`."""
        org = await self.organisations.current()
        moment, now = self._now()
        chosen = self._departments(org, codes)
        lead = chosen[0]
        async with self.db.write() as tx:
            await self._admin(tx, user_id)
            issue = await self._blowable(tx, issue_id)
            place = place or self._issue_place(org, issue)
            if place is None:
                raise Refused("wh_need_place", id=issue_id)
            if not place.valid():
                raise Refused("wh_bad_place")
            if issue.department_code != lead or issue.state not in ASSIGNED_STATES:
                issue = await self.issues.hand_to(tx, issue, lead, user_id, moment)
            await whistle_store.insert_whistle(tx, issue_id, lead, place, user_id, now)
            names = await self.notices.issue_names(tx, issue)
            await note_event(
                tx,
                issue,
                user_id,
                WHISTLE_EVENT,
                now,
                "、".join(names.department(c) for c in chosen),
                department=lead,
            )
            for code in chosen:
                await self._summon(tx, org, issue, code, moment)
            await self.notices.refresh_cards(tx, issue, now)
            for code in chosen:
                await self._push(tx, org, issue, code, moment)
            await self.notices.send_card(tx, issue, user_id, now)
        self.on_commit()
        return Answer(
            "wh_done_blow",
            {"id": issue_id, "departments": "、".join(names.department(c) for c in chosen)},
        )

    async def _summon(
        self,
        tx: aiosqlite.Connection,
        org: Organisation,
        issue: IssueRecord,
        code: str,
        moment: datetime,
    ) -> None:
        due = arrive_by(org.whistle, issue.urgent, moment)
        await whistle_store.summon(tx, issue.id, code, to_epoch(moment), to_epoch(due))
        await whistle_store.cancel_alerts(tx, issue.id, to_epoch(moment), code)
        await whistle_store.schedule_alerts(
            tx, issue.id, code, alerts_for(DeadlineKind.ACK, moment, due)
        )

    async def _push(
        self,
        tx: aiosqlite.Connection,
        org: Organisation,
        issue: IssueRecord,
        code: str,
        moment: datetime,
    ) -> None:
        """The card to the department's member on duty (by the roster) and its group, with
        a notice saying by when it must be on site."""
        now = to_epoch(moment)
        chats: list[int] = []
        if code == issue.department_code and issue.assignee_id is not None:
            chats.append(issue.assignee_id)
        else:
            member = await self.issues.member_on_duty(tx, org, code, moment)
            if member is not None:
                chats.append(member)
        group = await self.notices.group_chat(tx, code)
        if group is not None:
            chats.append(group)
        if not chats:
            head = await people.department_head(tx, code)
            if head is not None:
                chats.append(head)
        summons = await whistle_store.get_summons(tx, issue.id, code)
        assert summons is not None
        names = await self.notices.issue_names(tx, issue)
        for chat in chats:
            await self.notices.tell(
                tx,
                chat,
                now,
                "wh_summoned",
                issue=issue,
                id=issue.id,
                department=names.department(code),
                lead=names.department(issue.department_code),
                due=local_time(summons.arrive_deadline, self.notices.zone, with_date=False),
            )
            await self.notices.send_card(tx, issue, chat, now)

    # --- 到场 ----------------------------------------------------------------------------

    async def _summons_for(
        self,
        conn: aiosqlite.Connection,
        user_id: int,
        issue_id: int,
        department: str,
    ) -> tuple[IssueRecord, WhistleRecord, Summons]:
        actor = await people.load_actor(conn, user_id)
        if not actor.registered:
            raise Refused("not_registered")
        issue = await store.get_issue(conn, issue_id)
        whistle = await whistle_store.get_whistle(conn, issue_id)
        summons = await whistle_store.get_summons(conn, issue_id, department)
        if issue is None or whistle is None or summons is None:
            raise Refused("ans_not_found")
        if department not in actor.departments:
            raise Refused("ans_not_allowed")
        return issue, whistle, summons

    async def check_arrive(
        self, user_id: int, issue_id: int, department: str, tap: Tap | None = None
    ) -> None:
        """Refused unless the person may check in on site for the department now."""
        conn = self.db.reader
        issue, _, summons = await self._summons_for(conn, user_id, issue_id, department)
        if issue.state not in OPEN_STATES or SummonState(summons.state) not in AWAITING_ARRIVAL:
            raise Refused("wh_not_awaiting", id=issue_id)
        if tap is not None:
            seen = await self.notices.buttons_seen(conn, issue, user_id, tap.chat_id)
            if not offers(seen, tap.data):
                raise Refused("ans_bad_button")

    async def check_in(self, user_id: int, issue_id: int, department: str, at: Place) -> Answer:
        """A 到场 check-in at `at`: on site (within the radius) marks the department arrived;
        farther is recorded as 距离较远 and the admins are told."""
        if not at.valid():
            raise Refused("wh_bad_place")
        org = await self.organisations.current()
        _, now = self._now()
        async with self.db.write() as tx:
            issue, whistle, summons = await self._summons_for(tx, user_id, issue_id, department)
            state = SummonState(summons.state)
            if issue.state not in OPEN_STATES or state not in AWAITING_ARRIVAL:
                raise Refused("wh_not_awaiting", id=issue_id)
            found = check_in(whistle.place, at, org.whistle.radius_meters)
            await self._record_check_in(tx, issue, summons, user_id, at, found, now)
            if found.on_site:
                await whistle_store.cancel_alerts(tx, issue_id, now, department)
            else:
                await self._tell_far(tx, org, issue, department, user_id, found, now)
            await self.notices.refresh_cards(tx, issue, now)
        self.on_commit()
        if found.on_site:
            late = now > summons.arrive_deadline
            return Answer(
                "wh_done_late" if late else "wh_done_arrived",
                {
                    "id": issue_id,
                    "meters": found.meters,
                    "time": local_time(now, self.notices.zone, False),
                },
            )
        return Answer(
            "wh_done_far",
            {"id": issue_id, "meters": found.meters, "radius": org.whistle.radius_meters},
        )

    async def _record_check_in(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        summons: Summons,
        user_id: int,
        at: Place,
        found: CheckIn,
        now: int,
    ) -> None:
        """The check-in row, the department's new state (arrived, or 距离较远) and the
        timeline event; refused when the department's state moved meanwhile."""
        department = summons.department_code
        await whistle_store.add_checkin(
            tx, issue.id, department, user_id, now, at, found.meters, found.on_site
        )
        action = SummonAction.ARRIVE if found.on_site else SummonAction.CHECK_IN_FAR
        target = next_summon_state(SummonState(summons.state), action)
        changes: dict[str, object] = {"last_meters": found.meters}
        if found.on_site:
            changes |= {"arrived_at": now, "arrived_by": user_id, "arrived_meters": found.meters}
        updated = await whistle_store.update_summons(
            tx, issue.id, department, summons.state, state=target.value, **changes
        )
        if updated is None:
            raise Refused("wh_not_awaiting", id=issue.id)
        await note_event(
            tx,
            issue,
            user_id,
            ARRIVE_EVENT if found.on_site else CHECK_IN_FAR_EVENT,
            now,
            f"{found.meters} m",
            department=department,
        )

    async def _tell_far(
        self,
        tx: aiosqlite.Connection,
        org: Organisation,
        issue: IssueRecord,
        department: str,
        user_id: int,
        found: CheckIn,
        now: int,
    ) -> None:
        """A check-in too far from the place: the admins are told."""
        names = await self.notices.issue_names(tx, issue)
        who = await self.notices.names(tx, [user_id])
        for admin in await self.notices.admins(tx):
            await self.notices.tell(
                tx,
                admin,
                now,
                "wh_ad_far",
                issue=issue,
                id=issue.id,
                department=names.department(department),
                name=who.person(user_id),
                meters=found.meters,
                radius=org.whistle.radius_meters,
            )

    async def check_in_photo(
        self, user_id: int, issue_id: int, department: str, photo: str
    ) -> Answer:
        """The optional photo of the person's latest check-in for the department."""
        async with self.db.write() as tx:
            await self._summons_for(tx, user_id, issue_id, department)
            if not await whistle_store.attach_photo(tx, issue_id, department, user_id, photo):
                raise Refused("wh_photo_taken", id=issue_id)
        return Answer("wh_done_photo", {"id": issue_id})

    # --- arrival alerts (the deadline machinery of bot/deadlines.py) --------------------

    async def next_due(self) -> datetime | None:
        due = await whistle_store.next_alert_due(self.db.reader)
        return from_epoch(due) if due is not None else None

    async def sweep(self, batch: int = 200) -> int:
        """Fire every arrival alert that is due; returns how many were sent."""
        fired = 0
        for _ in range(1000):
            pending = await whistle_store.due_alerts(
                self.db.reader, to_epoch(self.clock.now()), batch
            )
            if not pending:
                break
            for alert in pending:
                fired += await self._fire(
                    alert.id,
                    alert.issue_id,
                    alert.department_code,
                    AlertStep(alert.step),
                    alert.deadline,
                )
            if len(pending) < batch:
                break
        if fired:
            self.on_commit()
        return fired

    async def _fire(
        self, alert_id: int, issue_id: int, department: str, step: AlertStep, deadline: int
    ) -> int:
        moment, now = self._now()
        async with self.db.write() as tx:
            if not await whistle_store.fire_alert(tx, alert_id, now):
                return 0
            issue = await store.get_issue(tx, issue_id)
            summons = await whistle_store.get_summons(tx, issue_id, department)
            if (
                issue is None
                or summons is None
                or issue.state not in OPEN_STATES
                or SummonState(summons.state) not in AWAITING_ARRIVAL
            ):
                return 0
            if step == AlertStep.REMIND:
                recipients, key = await self._reminded(tx, department), "wh_rm_arrive"
            else:
                recipients = await self._escalate(tx, issue, summons, step, now)
                key = _ARRIVAL_ESCALATIONS[step]
            names = await self.notices.issue_names(tx, issue)
            values: dict[str, Any] = {
                "id": issue_id,
                "department": names.department(department),
                "due": local_time(deadline, self.notices.zone, with_date=False),
            }
            for chat in recipients:
                lang = await self.notices.language(tx, chat)
                extra: dict[str, Any] = {
                    "left": duration(lang, from_epoch(deadline) - moment),
                    "late": duration(lang, moment - from_epoch(deadline)),
                }
                await self.notices.tell(tx, chat, now, key, issue=issue, **values, **extra)
                if step != AlertStep.REMIND:
                    await self.notices.send_card(tx, issue, chat, now)
            await self.notices.refresh_cards(tx, issue, now)
            return 1

    async def _reminded(self, tx: aiosqlite.Connection, department: str) -> list[int]:
        """Who gets the reminder at 80 %: the department's group, else a reachable member."""
        group = await self.notices.group_chat(tx, department)
        if group is not None:
            return [group]
        members = await people.department_members(tx, department)
        unreachable = await people.unreachable(tx, members)
        return [m for m in members if m not in unreachable][:1]

    async def _escalate(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        summons: Summons,
        step: AlertStep,
        now: int,
    ) -> list[int]:
        """At the limit the department's head is told (and the department is overdue); at
        twice the limit, or with no head, the admins. The step is on the timeline."""
        department = summons.department_code
        recipients: list[int] = []
        if step == AlertStep.HEAD:
            head = await people.department_head(tx, department)
            recipients = [head] if head is not None else []
            target = next_summon_state(SummonState(summons.state), SummonAction.OVERDUE)
            if target.value != summons.state:
                await whistle_store.update_summons(
                    tx, issue.id, department, summons.state, state=target.value
                )
        if not recipients or step == AlertStep.ADMINS:
            recipients = list(await self.notices.admins(tx))
        await note_event(
            tx,
            issue,
            None,
            ARRIVE_ALERT_EVENT,
            now,
            step.value,
            department=department,
        )
        return recipients

    # --- the whistle's part in working the issue ----------------------------------------

    async def open_co_departments(
        self, conn: aiosqlite.Connection, issue: IssueRecord
    ) -> list[str]:
        """Co-departments that have not finished their part (the lead's 办结 waits for them)."""
        whistle = await whistle_store.get_whistle(conn, issue.id)
        if whistle is None:
            return []
        return [
            s.department_code
            for s in await whistle_store.summoned(conn, issue.id)
            if s.department_code != whistle.lead
            and SummonState(s.state) not in (SummonState.DONE, SummonState.RELEASED)
        ]

    async def check_co_done(
        self, user_id: int, issue_id: int, department: str, tap: Tap | None = None
    ) -> None:
        """Refused unless the person may report their department's part done now."""
        conn = self.db.reader
        issue, whistle, summons = await self._summons_for(conn, user_id, issue_id, department)
        if (
            issue.state not in OPEN_STATES
            or department == whistle.lead
            or summons.state != SummonState.ARRIVED.value
        ):
            raise Refused("wh_not_co_done", id=issue_id)
        if tap is not None:
            seen = await self.notices.buttons_seen(conn, issue, user_id, tap.chat_id)
            if not offers(seen, tap.data):
                raise Refused("ans_bad_button")

    async def co_done(
        self,
        user_id: int,
        issue_id: int,
        department: str,
        note: str,
        photos: Sequence[tuple[str, str | None]] = (),
    ) -> Answer:
        """配合完成: a co-department's part is done, with a note and photos (file id, unique
        id), like 办结's; the lead is told and gets the photos; the timeline counts them."""
        _, now = self._now()
        async with self.db.write() as tx:
            issue, whistle, summons = await self._summons_for(tx, user_id, issue_id, department)
            if issue.state not in OPEN_STATES or department == whistle.lead:
                raise Refused("wh_not_co_done", id=issue_id)
            try:
                target = next_summon_state(SummonState(summons.state), SummonAction.CO_DONE)
            except SummonRefused:
                raise Refused("wh_not_co_done", id=issue_id) from None
            updated = await whistle_store.update_summons(
                tx, issue_id, department, summons.state, state=target.value, done_at=now
            )
            if updated is None:
                raise Refused("wh_not_co_done", id=issue_id)
            await note_event(
                tx,
                issue,
                user_id,
                CO_DONE_EVENT,
                now,
                note,
                department=department,
            )
            await whistle_store.add_step_photos(tx, issue_id, department, CO_DONE_EVENT, photos)
            await self._tell_lead(tx, issue, whistle, department, note, photos, now)
            await self.notices.refresh_cards(tx, issue, now)
        self.on_commit()
        return Answer("wh_done_co_done", {"id": issue_id})

    async def _tell_lead(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        whistle: WhistleRecord,
        department: str,
        note: str,
        photos: Sequence[tuple[str, str | None]],
        now: int,
    ) -> None:
        """配合完成: the lead's holder (else its group) is told, with the photos."""
        lead_chat = issue.assignee_id or await self.notices.group_chat(tx, whistle.lead)
        if lead_chat is None:
            return
        names = await self.notices.issue_names(tx, issue)
        if photos:
            lang = await self.notices.language(tx, lead_chat)
            caption = plain(
                lang, "wh_co_photos_caption", id=issue.id, department=names.department(department)
            )
            await self.notices.photos(tx, lead_chat, issue, [p for p, _ in photos], caption, now)
        await self.notices.tell(
            tx,
            lead_chat,
            now,
            "wh_lead_told_done",
            issue=issue,
            id=issue.id,
            department=names.department(department),
            note=note,
        )

    # --- the admins steer a running whistle ----------------------------------------------

    async def steer(
        self, user_id: int, issue_id: int, verb: str, department: str, reason: str
    ) -> Answer:
        """/whistle N add DEPT REASON, /whistle N release DEPT REASON, /whistle N override
        REASON: summon one more department, release one, or let the lead's 办结 through."""
        org = await self.organisations.current()
        moment, _ = self._now()
        if not reason.strip():
            raise Refused("wh_reason_needed")
        async with self.db.write() as tx:
            await self._admin(tx, user_id)
            issue = await store.get_issue(tx, issue_id)
            whistle = await whistle_store.get_whistle(tx, issue_id)
            if issue is None or whistle is None:
                raise Refused("wh_no_whistle", id=issue_id)
            if issue.state not in OPEN_STATES:
                raise Refused("wh_not_open", id=issue_id)
            step = Steer(tx, org, issue, whistle, user_id, reason, moment)
            if verb == "override":
                answer = await self._override(step)
            else:
                code = department.strip().lower()
                if code not in org.departments:
                    raise Refused("unknown_department", code=department)
                if verb == "add":
                    answer = await self._add(step, code)
                else:
                    answer = await self._release(step, code)
        self.on_commit()
        return answer

    async def _override(self, step: Steer) -> Answer:
        """The lead's 办结 need not wait for the co-departments any more."""
        tx, issue, now = step.tx, step.issue, to_epoch(step.moment)
        await whistle_store.set_override(tx, issue.id, step.user_id, step.reason)
        await self._steer_event(step, "whistle_override", step.whistle.lead)
        if issue.assignee_id is not None:
            await self.notices.tell(
                tx,
                issue.assignee_id,
                now,
                "wh_lead_override",
                issue=issue,
                id=issue.id,
                reason=step.reason,
            )
        return Answer("wh_done_override", {"id": issue.id})

    async def _add(self, step: Steer, code: str) -> Answer:
        """One more department summoned (or one released summoned again, afresh)."""
        tx, issue = step.tx, step.issue
        names = await self.notices.issue_names(tx, issue)
        summons = await whistle_store.get_summons(tx, issue.id, code)
        if summons is not None and summons.state != SummonState.RELEASED.value:
            raise Refused("wh_already_summoned", department=names.department(code))
        await self._summon(tx, step.org, issue, code, step.moment)
        await self._steer_event(step, SUMMON_EVENT, code)
        await self.notices.refresh_cards(tx, issue, to_epoch(step.moment))
        await self._push(tx, step.org, issue, code, step.moment)
        return Answer("wh_done_add", {"id": issue.id, "department": names.department(code)})

    async def _release(self, step: Steer, code: str) -> Answer:
        """A co-department released: its alerts stop, its group is told."""
        tx, issue, now = step.tx, step.issue, to_epoch(step.moment)
        names = await self.notices.issue_names(tx, issue)
        if code == step.whistle.lead:
            raise Refused("wh_lead_stays")
        summons = await whistle_store.get_summons(tx, issue.id, code)
        if summons is None:
            raise Refused("wh_not_summoned", department=names.department(code))
        try:
            target = next_summon_state(SummonState(summons.state), SummonAction.RELEASE)
        except SummonRefused:
            raise Refused("wh_not_summoned", department=names.department(code)) from None
        await whistle_store.update_summons(
            tx, issue.id, code, summons.state, state=target.value, released_at=now
        )
        await whistle_store.cancel_alerts(tx, issue.id, now, code)
        await self._steer_event(step, RELEASE_EVENT, code)
        await self.notices.refresh_cards(tx, issue, now)
        group = await self.notices.group_chat(tx, code)
        if group is not None:
            await self.notices.tell(
                tx,
                group,
                now,
                "wh_released",
                issue=issue,
                id=issue.id,
                department=names.department(code),
                reason=step.reason,
            )
        return Answer("wh_done_release", {"id": issue.id, "department": names.department(code)})

    async def _steer_event(self, step: Steer, action: str, department: str) -> None:
        issue = step.issue
        await note_event(
            step.tx,
            issue,
            step.user_id,
            action,
            to_epoch(step.moment),
            step.reason,
            department=department,
        )

    # --- the street rates each department -----------------------------------------------

    async def rate(self, user_id: int, issue_id: int, argument: str) -> Answer:
        """An admin's rating of one summoned department (满意 / 基本满意 / 不满意), once."""
        code, _, value = argument.partition(".")
        try:
            rating = Rating(value)
        except ValueError:
            raise Refused("ans_bad_button") from None
        _, now = self._now()
        async with self.db.write() as tx:
            await self._admin(tx, user_id)
            issue = await store.get_issue(tx, issue_id)
            summons = await whistle_store.get_summons(tx, issue_id, code)
            if issue is None or summons is None or issue.state != State.CLOSED:
                raise Refused("ans_bad_button")
            if summons.street_rating is not None:
                raise Refused("ans_already_rated")
            rated = await whistle_store.rate_summons(tx, issue_id, code, rating.value, now)
            if not rated:
                raise Refused("ans_already_rated")
            await note_event(
                tx,
                issue,
                user_id,
                "street_rate",
                now,
                rating.value,
                department=code,
            )
            names = await self.notices.issue_names(tx, issue)
            for chat in await self._rating_chats(tx, code):
                lang = await self.notices.language(tx, chat)
                await self.notices.tell(
                    tx,
                    chat,
                    now,
                    "wh_rated",
                    issue=issue,
                    id=issue_id,
                    department=names.department(code),
                    rating=plain(lang, RATING_KEYS[rating]),
                )
            await self.notices.refresh_cards(tx, issue, now)
        self.on_commit()
        return Answer("wh_done_rated", {"id": issue_id, "department": names.department(code)})

    async def rate_reason(
        self, user_id: int, issue_id: int, department: str, reason: str
    ) -> Answer:
        """The optional reason an admin gives after rating a department: once, on the
        timeline, and told to the department as the rating was."""
        if not reason.strip():
            raise Refused("wh_reason_needed")
        _, now = self._now()
        async with self.db.write() as tx:
            await self._admin(tx, user_id)
            issue = await store.get_issue(tx, issue_id)
            if issue is None or not await whistle_store.set_street_reason(
                tx, issue_id, department, reason
            ):
                raise Refused("wh_reason_taken", id=issue_id)
            await note_event(
                tx,
                issue,
                user_id,
                RATE_REASON_EVENT,
                now,
                reason,
                department=department,
            )
            names = await self.notices.issue_names(tx, issue)
            for chat in await self._rating_chats(tx, department):
                await self.notices.tell(
                    tx,
                    chat,
                    now,
                    "wh_rated_reason",
                    issue=issue,
                    id=issue_id,
                    department=names.department(department),
                    reason=reason,
                )
        self.on_commit()
        return Answer(
            "wh_done_reason", {"id": issue_id, "department": names.department(department)}
        )

    async def _rating_chats(self, tx: aiosqlite.Connection, department: str) -> set[int]:
        """Who hears the street's rating of a department: its group and its head."""
        group = await self.notices.group_chat(tx, department)
        head = await people.department_head(tx, department)
        return {c for c in (group, head) if c is not None}
