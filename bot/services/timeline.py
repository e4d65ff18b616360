"""An issue's timeline: a move from one state to the next written with its event, and an
event that leaves the state as it was, each in one place."""

from __future__ import annotations

import aiosqlite

from bot.lifecycle import Action, State
from bot.records import IssueRecord
from bot.services.refusal import Refused
from storage import issues as store


async def move_issue(
    tx: aiosqlite.Connection,
    issue: IssueRecord,
    actor_id: int | None,
    action: Action,
    target: State,
    now: int,
    note: str | None = None,
    **changes: object,
) -> IssueRecord:
    """Move `issue` to `target` with `changes`, and record `action` on its timeline, in the
    transaction `tx`. Refused (stale) if the issue is no longer in the state it was read in:
    someone else moved it first, and nothing is written."""
    updated = await store.update_issue(tx, issue.id, issue.state, state=target, **changes)
    if updated is None:
        raise Refused("ans_stale", state=issue.state)
    await store.add_event(
        tx,
        issue.id,
        now,
        actor_id,
        action.value,
        issue.state,
        target,
        updated.department_code,
        updated.assignee_id,
        note,
    )
    return updated


async def note_event(
    tx: aiosqlite.Connection,
    issue: IssueRecord,
    actor_id: int | None,
    event: str,
    now: int,
    note: str | None = None,
    *,
    department: str | None = None,
) -> None:
    """Record `event` on the issue's timeline without moving it (asked, refused, merged,
    附议): the state, department and holder stay as they are in `issue`. A whistle's event
    names the summoned `department` instead of the issue's."""
    await store.add_event(
        tx,
        issue.id,
        now,
        actor_id,
        event,
        issue.state,
        issue.state,
        department or issue.department_code,
        issue.assignee_id,
        note,
    )
