"""Closures that say why (不属实, 重复, 非本辖区) and 附议: who may ask, who decides, what
the reporter and the followers are told. Each public method is one transaction and owns
its authorisation; a refused request raises `Refused` and changes nothing."""

from __future__ import annotations

import aiosqlite

from bot.clock import from_epoch, to_epoch
from bot.closures import (
    DUPLICATE_CHAIN_LIMIT,
    NEARBY_WINDOW,
    Candidate,
    ClosureKind,
    approvers,
    duplicate_target_ok,
    may_decide,
    may_request,
    nearby,
)
from bot.deadlines import DeadlineKind, alerts_for, deadlines_in
from bot.i18n import Html, plain, text
from bot.labels import CLOSURE_KEYS, CLOSURE_QUESTION_KEYS
from bot.lifecycle import OPEN_STATES, Action, State, TransitionRefused, next_state
from bot.numbers import parse_id
from bot.permissions import may_report
from bot.records import ClosureRequest, Draft, IssueRecord
from bot.services.context import Service, ServiceContext
from bot.services.issues import IssueService
from bot.services.refusal import Refused
from bot.services.reports import ReportService, clean_text
from bot.services.timeline import move_issue, note_event
from bot.views import Answer, Buttons, Names, Rendered
from storage import alerts, people
from storage import closures as store
from storage import drafts as draft_store
from storage import followers as follower_store
from storage import issues as issue_store

DECIDE_PREFIX = "cld"
OBJECT_PREFIX = "clo"
REQUEST_PREFIX = "clr"
"""The holder's 不属实 / 重复 / 非本辖区 buttons (bot/views.py puts them on the card)."""
SECONDED = "second"
"""How a follower came: by 附议 (counted on the card) or as a merged duplicate's reporter."""
MERGED = "duplicate"


class ClosureService(Service):
    def __init__(
        self,
        context: ServiceContext,
        issues: IssueService,
        reports: ReportService,
        max_text_length: int,
    ) -> None:
        super().__init__(context)
        self.issues = issues
        self.reports = reports
        self.max_text_length = max_text_length

    async def _holder_checks(
        self, conn: aiosqlite.Connection, user_id: int, issue_id: int
    ) -> IssueRecord:
        actor, issue = await self._registered_with_issue(conn, user_id, issue_id)
        if not may_request(actor, issue.department_code, issue.assignee_id):
            raise Refused("ans_not_allowed")
        try:
            next_state(issue.state, Action.REQUEST_CLOSURE)
        except TransitionRefused:
            raise Refused("ans_stale", state=issue.state) from None
        return issue

    # --- the holder asks --------------------------------------------------------------

    async def ask(self, user_id: int, issue_id: int, kind: ClosureKind) -> Rendered:
        """The question for a closure's reason (a photo, a number, whose it is), once the
        person is found allowed to ask for it."""
        await self._holder_checks(self.db.reader, user_id, issue_id)
        lang = await self.notices.language(self.db.reader, user_id)
        return Rendered(text(lang, CLOSURE_QUESTION_KEYS[kind], id=issue_id))

    async def request(
        self,
        user_id: int,
        issue_id: int,
        kind: ClosureKind,
        words: str | None,
        photo: tuple[str, str | None] | None,
    ) -> Answer:
        """Ask for the closure with its reason: 不属实 needs a photo of the site (its
        caption is the note), 重复 the number of the issue it repeats, 非本辖区 whose it
        is. The issue waits (closing) for the head's or an admin's decision."""
        note, duplicate_of = self._reason(kind, words, photo)
        _, now = self._now()
        async with self.db.write() as tx:
            issue = await self._holder_checks(tx, user_id, issue_id)
            if duplicate_of is not None:
                target = await issue_store.get_issue(tx, duplicate_of)
                leads_to = await self._duplicate_chain(tx, duplicate_of)
                if not duplicate_target_ok(
                    issue_id, target.state if target else None, duplicate_of, leads_to
                ):
                    raise Refused("cl_bad_duplicate", id=duplicate_of)
            updated = await self._move(tx, issue, user_id, Action.REQUEST_CLOSURE, now, note)
            # No reminders to the holder while the head or an admin decides.
            await alerts.cancel(tx, issue_id, now, DeadlineKind.RESOLVE)
            request = await store.add_request(
                tx, issue_id, kind, note, photo[0] if photo else None, duplicate_of, user_id, now
            )
            head = await people.department_head(tx, issue.department_code)
            names = await self.notices.issue_names(tx, updated)
            for decider in approvers(user_id, head, await self.notices.admins(tx)):
                await self._ask_to_decide(tx, decider, updated, names, request, photo, now)
            await self.notices.refresh_cards(tx, updated, now)
        self.on_commit()
        return Answer("cl_requested", {"id": issue_id})

    async def _check_still_duplicate(
        self, tx: aiosqlite.Connection, issue_id: int, duplicate_of: int
    ) -> None:
        """At 同意 the issue a 重复 names must still be one to merge into: cancelled or
        closed back into this one meanwhile, the closure would leave the problem with
        nobody (the decider may still 不同意)."""
        target = await issue_store.get_issue(tx, duplicate_of)
        leads_to = await self._duplicate_chain(tx, duplicate_of)
        if not duplicate_target_ok(
            issue_id, target.state if target else None, duplicate_of, leads_to
        ):
            raise Refused("cl_target_gone", id=issue_id, target=duplicate_of)

    @staticmethod
    async def _duplicate_chain(tx: aiosqlite.Connection, issue_id: int) -> list[int]:
        """The issues `issue_id`'s 重复 closures lead to, one after another."""
        chain: list[int] = []
        current = issue_id
        for _ in range(DUPLICATE_CHAIN_LIMIT):
            found = await store.duplicate_of(tx, current)
            if found is None or found in chain or found == issue_id:
                break
            chain.append(found)
            current = found
        return chain

    def _reason(
        self, kind: ClosureKind, words: str | None, photo: tuple[str, str | None] | None
    ) -> tuple[str, int | None]:
        """The note a closure is asked with, and for 重复 the issue it repeats; refused
        when the reason its kind needs is missing."""
        match kind:
            case ClosureKind.INVALID:
                if photo is None:
                    raise Refused("cl_need_photo")
                return (clean_text(words, self.max_text_length) if words else ""), None
            case ClosureKind.DUPLICATE:
                duplicate_of = parse_id(words or "", hash_allowed=True)
                if duplicate_of is None:
                    raise Refused("cl_need_number")
                return f"#{duplicate_of}", duplicate_of
            case ClosureKind.ELSEWHERE:
                if not words or not words.strip():
                    raise Refused("cl_need_whose")
                return clean_text(words, self.max_text_length), None

    async def _ask_to_decide(
        self,
        tx: aiosqlite.Connection,
        decider: int,
        issue: IssueRecord,
        names: Names,
        request: ClosureRequest,
        photo: tuple[str, str | None] | None,
        now: int,
    ) -> None:
        """One approver's question: the photo (for 不属实), then 同意 / 不同意."""
        lang = await self.notices.language(tx, decider)
        if photo is not None:
            caption = plain(lang, "cl_photo_caption", id=issue.id)
            await self.notices.photos(tx, decider, issue, [photo[0]], caption, now)
        await self.notices.tell(
            tx,
            decider,
            now,
            "cl_decide_ask",
            issue=issue,
            buttons=[
                [
                    (plain(lang, "btn_approve"), f"{DECIDE_PREFIX}:{request.id}:y"),
                    (plain(lang, "btn_disapprove"), f"{DECIDE_PREFIX}:{request.id}:n"),
                ]
            ],
            id=issue.id,
            member=names.person(request.requested_by),
            kind=plain(lang, CLOSURE_KEYS[request.kind]),
            note=request.note or "-",
        )

    @staticmethod
    async def _move(
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        actor_id: int | None,
        action: Action,
        now: int,
        note: str | None,
        **changes: object,
    ) -> IssueRecord:
        try:
            target = next_state(issue.state, action)
        except TransitionRefused:
            raise Refused("ans_stale", state=issue.state) from None
        return await move_issue(tx, issue, actor_id, action, target, now, note, **changes)

    # --- the head or an admin decides ---------------------------------------------------

    async def decide(self, user_id: int, request_id: int, approve: bool) -> Answer:
        """同意: the issue is closed for the reason given (a duplicate's reporter follows the
        issue it repeats) and the reporter is told, with 异议. 不同意: the holder keeps it."""
        _, now = self._now()
        async with self.db.write() as tx:
            actor = await people.load_actor(tx, user_id)
            request = await store.get_request(tx, request_id)
            if request is None:
                raise Refused("ans_not_found")
            issue = await issue_store.get_issue(tx, request.issue_id)
            assert issue is not None
            head = await people.department_head(tx, issue.department_code)
            deciders = approvers(request.requested_by, head, await self.notices.admins(tx))
            if not may_decide(actor, deciders, request.requested_by):
                raise Refused("ans_not_allowed")
            if approve and request.duplicate_of is not None:
                await self._check_still_duplicate(tx, issue.id, request.duplicate_of)
            if issue.state != State.CLOSING or not await store.decide(
                tx, request_id, user_id, approve, now
            ):
                raise Refused("cl_decided")
            names = await self.notices.issue_names(tx, issue)
            if not approve:
                updated = await self._move(tx, issue, user_id, Action.REFUSE_CLOSURE, now, None)
                await self._replan(tx, updated, now)
                await self.notices.tell(
                    tx,
                    request.requested_by,
                    now,
                    "cl_refused",
                    issue=updated,
                    id=issue.id,
                    name=names.person(user_id),
                )
                await self.notices.refresh_cards(tx, updated, now)
                answer = Answer("cl_done_refused", {"id": issue.id})
            else:
                updated = await self._move(
                    tx,
                    issue,
                    user_id,
                    Action.APPROVE_CLOSURE,
                    now,
                    request.kind.value,
                    closed_at=now,
                )
                await store.set_issue_closure(tx, issue.id, request.kind)
                await alerts.cancel(tx, issue.id, now)
                await self._tell_reporter(tx, updated, request.kind, request.note, request.id, now)
                if request.kind == ClosureKind.DUPLICATE and request.duplicate_of is not None:
                    await self._merge(tx, updated, request.duplicate_of, now)
                await self.notices.tell(
                    tx, request.requested_by, now, "cl_approved", issue=updated, id=issue.id
                )
                await self.notices.refresh_cards(tx, updated, now)
                answer = Answer("cl_done_approved", {"id": issue.id})
        self.on_commit()
        return answer

    @staticmethod
    async def _replan(tx: aiosqlite.Connection, issue: IssueRecord, now: int) -> None:
        """Refused, the holder's resolve deadline runs on as it was: its alerts (stopped
        while the closure waited) are planned again, any already due firing at once."""
        if issue.resolve_deadline is None:
            return
        await alerts.cancel(tx, issue.id, now, DeadlineKind.RESOLVE)
        started = from_epoch(issue.dispatched_at or issue.reported_at)
        await alerts.schedule(
            tx,
            issue.id,
            alerts_for(DeadlineKind.RESOLVE, started, from_epoch(issue.resolve_deadline)),
        )

    async def _tell_reporter(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        kind: ClosureKind,
        note: str,
        request_id: int,
        now: int,
    ) -> None:
        lang = await self.notices.language(tx, issue.reporter_id)
        await self.notices.tell(
            tx,
            issue.reporter_id,
            now,
            "rc_closure",
            issue=issue,
            buttons=[[(plain(lang, "btn_object"), f"{OBJECT_PREFIX}:{request_id}")]],
            id=issue.id,
            kind=plain(lang, CLOSURE_KEYS[kind]),
            note=note or "-",
        )

    async def _merge(
        self, tx: aiosqlite.Connection, duplicate: IssueRecord, target_id: int, now: int
    ) -> None:
        """重复: the duplicate's reporter follows the issue it repeats (its notices, 确认)."""
        target = await issue_store.get_issue(tx, target_id)
        if target is None or duplicate.reporter_id == target.reporter_id:
            return
        if await follower_store.follow(tx, target_id, duplicate.reporter_id, MERGED, now):
            event = Action.SECOND.value if target.state in OPEN_STATES else "merge"
            await note_event(tx, target, duplicate.reporter_id, event, now, f"#{duplicate.id}")
        await self.notices.tell(
            tx, duplicate.reporter_id, now, "rc_now_following", issue=target, id=target_id
        )

    # --- the reporter objects -----------------------------------------------------------

    async def object(self, user_id: int, request_id: int) -> Answer:
        """异议: the closure is undone and the issue reopened to its holder, as 重办 does
        (counted as a reopening, with a new resolve deadline)."""
        moment, now = self._now()
        async with self.db.write() as tx:
            request = await store.get_request(tx, request_id)
            if request is None:
                raise Refused("ans_not_found")
            issue = await issue_store.get_issue(tx, request.issue_id)
            assert issue is not None
            if user_id != issue.reporter_id:
                raise Refused("ans_not_allowed")
            if issue.state != State.CLOSED or not await store.object_to(tx, request_id, now):
                raise Refused("cl_object_stale")
            org = await self.issues.organisations.current()
            rules = await IssueService._rules(tx, org, issue.category_code)
            resolve_by = deadlines_in(
                org, issue.department_code or "", rules, issue.urgent, moment
            ).resolve_by
            updated = await self._move(
                tx,
                issue,
                user_id,
                Action.OBJECT,
                now,
                plain(await self.notices.language(tx, user_id), CLOSURE_KEYS[request.kind]),
                closed_at=None,
                reopen_count=issue.reopen_count + 1,
                resolve_deadline=to_epoch(resolve_by),
            )
            await store.set_issue_closure(tx, issue.id, None)
            await alerts.schedule(
                tx, issue.id, alerts_for(DeadlineKind.RESOLVE, moment, resolve_by)
            )
            await self.notices.refresh_cards(tx, updated, now)
            await self.notices.tell_holder(tx, updated, now, "mc_objected")
        self.on_commit()
        return Answer("cl_done_objected", {"id": issue.id})

    # --- 附议 -----------------------------------------------------------------------------

    async def _nearby(
        self, conn: aiosqlite.Connection, draft: Draft, now: int
    ) -> list[tuple[Candidate, float]]:
        if draft.category_code is None or draft.latitude is None or draft.longitude is None:
            return []
        org = await self.issues.organisations.current()
        category = org.categories.get(draft.category_code)
        if category is None:
            return []
        since = now - int(NEARBY_WINDOW.total_seconds())
        candidates = await follower_store.recent_located(
            conn, draft.category_code, since, OPEN_STATES
        )
        own = await issue_store.reported_by(conn, draft.user_id, 50)
        return nearby(
            candidates,
            draft.category_code,
            draft.latitude,
            draft.longitude,
            now,
            category.nearby_meters,
            exclude={i.id for i in own},
        )

    async def offer_nearby(self, user_id: int) -> Rendered | None:
        """After the report's location step: the open issues of its category reported
        nearby in the last 7 days, each with 附议, and 不是同一个问题 (None: there are none)."""
        draft = await self.reports.current(user_id)
        if draft is None:
            return None
        _, now = self._now()
        conn = self.db.reader
        found = await self._nearby(conn, draft, now)
        if not found:
            return None
        lang = await self.notices.language(conn, user_id)
        lines = [text(lang, "nearby_header", n=len(found))]
        buttons: Buttons = []
        for candidate, meters in found:
            issue = await issue_store.get_issue(conn, candidate.issue_id)
            assert issue is not None
            lines.append(
                text(
                    lang,
                    "nearby_line",
                    id=issue.id,
                    meters=round(meters),
                    description=issue.description[:60],
                )
            )
            buttons.append([(plain(lang, "btn_second", id=issue.id), f"r:me2:{issue.id}")])
        buttons.append([(plain(lang, "btn_not_same"), "r:notsame")])
        return Rendered(Html("\n".join(lines)), buttons)

    async def second(self, user_id: int, issue_id: int) -> Answer:
        """附议: the worker follows the issue instead of reporting it again; their draft is
        discarded. Only an issue the draft's category and place are offered is accepted."""
        draft = await self.reports.current(user_id)
        if draft is None:
            raise Refused("report_already_submitted")
        _, now = self._now()
        async with self.db.write() as tx:
            actor = await people.load_actor(tx, user_id)
            if not may_report(actor):
                raise Refused("ans_not_allowed")
            if issue_id not in {c.issue_id for c, _ in await self._nearby(tx, draft, now)}:
                raise Refused("nearby_gone", id=issue_id)
            issue = await issue_store.get_issue(tx, issue_id)
            assert issue is not None
            if not await draft_store.delete_draft(tx, user_id, draft.draft_key):
                raise Refused("report_already_submitted")
            if await follower_store.follow(tx, issue_id, user_id, SECONDED, now):
                await self._move(tx, issue, user_id, Action.SECOND, now, None)
                await self.notices.refresh_cards(tx, issue, now)
        self.reports.forget(user_id)
        self.on_commit()
        return Answer("nearby_seconded", {"id": issue_id})

    async def seconded_count(self, conn: aiosqlite.Connection, issue_id: int) -> int:
        return await follower_store.count(conn, issue_id, SECONDED)
