"""Reminders before a deadline and escalations after it, fired from the database.

`sweep()` fires every alert that is due by the clock, each in its own transaction with
the messages it requires, so an alert fires exactly once even across restarts. The bot
calls it from python-telegram-bot's JobQueue (at the next due time, and every half
minute as a safety net); tests call it after moving the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from bot.clock import from_epoch, to_epoch
from bot.deadlines import AlertStep, DeadlineKind, after_quiet_hours
from bot.lifecycle import Action, State
from bot.records import IssueRecord, PendingAlert
from bot.services.context import Service
from bot.services.extensions import review_due
from bot.services.timeline import note_event
from bot.views import duration, local_time
from storage import alerts, people
from storage import issues as store

_WATCHED = {
    DeadlineKind.ACK: frozenset({State.DISPATCHED}),
    DeadlineKind.RESOLVE: frozenset({State.DISPATCHED, State.ACKNOWLEDGED, State.REOPENED}),
    DeadlineKind.HOLD: frozenset({State.HELD}),
}
_REMINDERS = {DeadlineKind.ACK: "rm_ack", DeadlineKind.RESOLVE: "rm_resolve"}
_ESCALATIONS = {
    (DeadlineKind.ACK, AlertStep.HEAD): "es_ack_head",
    (DeadlineKind.ACK, AlertStep.ADMINS): "es_ack_admins",
    (DeadlineKind.RESOLVE, AlertStep.HEAD): "es_resolve_head",
    (DeadlineKind.RESOLVE, AlertStep.ADMINS): "es_resolve_admins",
}


class EscalationService(Service):
    """Fires the reminders and escalations that are due, each in its own transaction."""

    async def next_due(self) -> datetime | None:
        due = await alerts.next_due(self.db.reader)
        return from_epoch(due) if due is not None else None

    async def sweep(self, batch: int = 200) -> int:
        """Fire every alert that is due now; returns how many were sent."""
        fired = 0
        for _ in range(1000):
            pending = await alerts.due(self.db.reader, to_epoch(self.clock.now()), batch)
            if not pending:
                break
            for alert in pending:
                fired += await self._fire(alert)
            if len(pending) < batch:
                break
        if fired:
            self.on_commit()
        return fired

    async def _fire(self, alert: PendingAlert) -> int:
        """Fire one alert, unless the issue has moved on (cancelled) or a reminder falls in
        the department's quiet hours (postponed); 1 when it fired."""
        moment = self.clock.now()
        now = to_epoch(moment)
        org = await self.organisations.current()
        async with self.db.write() as tx:
            if not await alerts.still_pending(tx, alert.id):
                return 0
            issue = await store.get_issue(tx, alert.issue_id)
            if issue is None or issue.state not in _WATCHED[alert.kind]:
                await alerts.mark_cancelled(tx, alert.id, now)
                return 0
            if alert.step == AlertStep.REMIND and not issue.urgent:
                wait_until = after_quiet_hours(
                    moment,
                    org.quiet_hours(issue.department_code),
                    org.timezone,
                    org.calendar,
                    from_epoch(alert.deadline),
                )
                if wait_until > moment:
                    await alerts.postpone(tx, alert.id, to_epoch(wait_until))
                    return 0
            await alerts.mark_fired(tx, alert.id, now)
            if alert.kind == DeadlineKind.HOLD:
                await review_due(tx, self.notices, issue, now)
                return 1
            values = await self._values(tx, issue, alert)
            if alert.step == AlertStep.REMIND:
                await self._remind(tx, issue, alert, values, moment)
            else:
                await self._escalate(tx, issue, alert, values, moment)
            return 1

    async def _values(
        self, tx: aiosqlite.Connection, issue: IssueRecord, alert: PendingAlert
    ) -> dict[str, Any]:
        """What every reminder and escalation message fills in."""
        names = await self.notices.issue_names(tx, issue)
        return {
            "id": issue.id,
            "category": names.category(issue.category_code),
            "grid": names.grid(issue.grid_code),
            "department": names.department(issue.department_code),
            "member": names.person(issue.assignee_id)
            if issue.assignee_id
            else names.department(issue.department_code),
            "due": local_time(alert.deadline, self.notices.zone),
        }

    async def _remind(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        alert: PendingAlert,
        values: dict[str, Any],
        moment: datetime,
    ) -> None:
        """Before the deadline: the holder, or (holder unreachable or none) the
        department's group, or its head."""
        target = issue.assignee_id
        if target is not None and await people.unreachable(tx, [target]):
            target = None
        if target is None:
            target = await self.notices.group_chat(tx, issue.department_code)
        if target is None:
            target = await people.department_head(tx, issue.department_code)
        if target is not None:
            lang = await self.notices.language(tx, target)
            await self.notices.tell(
                tx,
                target,
                to_epoch(moment),
                _REMINDERS[alert.kind],
                issue=issue,
                left=duration(lang, from_epoch(alert.deadline) - moment),
                **values,
            )

    async def _escalate(
        self,
        tx: aiosqlite.Connection,
        issue: IssueRecord,
        alert: PendingAlert,
        values: dict[str, Any],
        moment: datetime,
    ) -> None:
        """After the deadline: recorded on the issue, then told with the card to the
        department's heads (the admins when none can be reached) or to the admins."""
        now = to_epoch(moment)
        await note_event(
            tx, issue, None, Action.ESCALATE.value, now, f"{alert.kind.value}:{alert.step.value}"
        )
        if not issue.escalated:
            # the admins' cards offer 改派 again (bot/views.py, street_reroutes)
            issue = await store.update_issue(tx, issue.id, issue.state, escalated=1) or issue
        recipients: list[int] = []
        if alert.step == AlertStep.HEAD:
            heads = await people.department_heads(tx, issue.department_code)
            if heads:
                # Every head who can be reached; when none can, the admins.
                unreachable = await people.unreachable(tx, heads)
                recipients = [h for h in heads if h not in unreachable]
                if not recipients:
                    recipients = await people.active_admins(tx)
        else:
            recipients = await people.active_admins(tx)
        for recipient in recipients:
            lang = await self.notices.language(tx, recipient)
            await self.notices.tell(
                tx,
                recipient,
                now,
                _ESCALATIONS[alert.kind, alert.step],
                issue=issue,
                late=duration(lang, moment - from_epoch(alert.deadline)),
                **values,
            )
            await self.notices.send_card(tx, issue, recipient, now)
