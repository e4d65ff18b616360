"""The records the bot works with: issues and their events, people's grants, report
drafts, outbox items, pending alerts and the organisation's directory. Plain values of
the domain; storage/ reads and writes them (each storage module turns its rows into
these), and nothing here knows how they are kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.closures import ClosureKind
from bot.deadlines import AlertStep, DeadlineKind
from bot.extensions import Kind
from bot.lifecycle import OPEN_STATES, State
from bot.permissions import Role


@dataclass(frozen=True)
class IssueRecord:
    """An issue as it is now (times in epoch seconds)."""

    id: int
    reporter_id: int
    grid_code: str
    category_code: str
    description: str
    urgent: bool
    latitude: float | None
    longitude: float | None
    address: str | None
    state: State
    department_code: str | None
    assignee_id: int | None
    reported_at: int
    dispatched_at: int | None
    acknowledged_at: int | None
    resolved_at: int | None
    closed_at: int | None
    cancelled_at: int | None
    ack_deadline: int | None
    resolve_deadline: int | None
    rating: str | None
    reopen_count: int
    transfer_count: int
    escalated: bool
    draft_key: str
    # extensions and 挂账
    original_resolve_deadline: int | None = None
    """The resolve deadline before the first approved extension (None: never extended)."""
    held_until: int | None = None
    """While 挂账: the day it is to be reviewed."""
    held_at: int | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class EventRecord:
    """One entry of an issue's append-only timeline: who moved it from which state to
    which, when, and where it was held afterwards."""

    id: int
    issue_id: int
    at: int
    actor_id: int | None
    action: str
    from_state: str | None
    to_state: str
    department_code: str | None
    assignee_id: int | None
    note: str | None


@dataclass(frozen=True)
class NewIssue:
    """A report as submitted, before it has an id or a state."""

    reporter_id: int
    grid_code: str
    category_code: str
    description: str
    urgent: bool
    latitude: float | None
    longitude: float | None
    address: str | None
    draft_key: str


@dataclass
class Draft:
    """A half-written report: the report conversation's state, kept at every step so a
    restart resumes the conversation where it was."""

    user_id: int
    chat_id: int
    draft_key: str
    step: int
    started_at: int
    grid_code: str | None = None
    category_code: str | None = None
    description: str | None = None
    photos: list[tuple[str, str | None]] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    urgent: bool | None = None
    waiting_since: int | None = None
    """Since when the draft's step waits for the person's input; None once they started
    something else (the draft is kept, /report carries on)."""


@dataclass(frozen=True)
class Grant:
    role: Role
    scope: str
    source: str
    """'org' (the organisation file), 'settings' (WHISTLE_ADMIN_IDS) or 'invite'."""


@dataclass(frozen=True)
class PersonRoles:
    user_id: int
    name: str
    seen: bool
    """Whether the person has ever opened a chat with the bot."""
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class Directory:
    """Names of every department, category and grid (retired ones too, for history), the
    active ones in the file's order, and the active departments' groups: what every message
    and prompt needs."""

    names: dict[str, dict[str, str]]
    active: dict[str, list[tuple[str, str]]]
    group_chats: dict[str, int]


@dataclass
class ImportSummary:
    """What importing the organisation file changed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    redispatched: list[str] = field(default_factory=list)
    """What became of each open issue whose holder the import retired."""

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.retired or self.redispatched)


@dataclass(frozen=True)
class OutboxItem:
    """One call to the Bot API that a state change requires, waiting to be sent."""

    id: int
    created_at: int
    urgent: bool
    chat_id: int
    issue_id: int | None
    purpose: str
    method: str
    payload: dict[str, Any]
    attempts: int
    not_before: int = 0
    """Not to be sent before this moment (epoch seconds): a retry's backoff."""
    chat_blocked: bool = False
    """Whether the chat was recorded as having blocked the bot when the item was read."""
    card_message_id: int | None = None
    """The message showing this issue's card in the chat when the item was read: what an
    edit edits."""


@dataclass(frozen=True)
class PendingAlert:
    """A reminder or escalation waiting to fire (it fires once)."""

    id: int
    issue_id: int
    kind: DeadlineKind
    step: AlertStep
    due_at: int
    deadline: int


@dataclass(frozen=True)
class OutboxState:
    depth: int
    """Items not yet delivered (due now or waiting for a retry)."""
    oldest_due_age: int
    """Seconds the oldest item that is due now has waited since it was queued; 0: none."""
    oldest_age: int
    """Seconds the oldest undelivered item has waited since it was queued; 0: none."""


# closures that say why
@dataclass(frozen=True)
class ClosureRequest:
    """A request to close an issue as 不属实, 重复 or 非本辖区, and its decision."""

    id: int
    issue_id: int
    kind: ClosureKind
    note: str
    photo: str | None
    duplicate_of: int | None
    requested_by: int
    requested_at: int
    decided_by: int | None
    decided_at: int | None
    approved: bool | None
    objected_at: int | None


# extensions and 挂账
@dataclass(frozen=True)
class ExtensionRequest:
    """A request for an extension (延期) or a 挂账, and its decision (times in epoch
    seconds; `until`: the new deadline, or the 挂账's review time)."""

    id: int
    issue_id: int
    kind: Kind
    requested_by: int
    requested_at: int
    reason: str
    until: int
    status: str
    decided_by: int | None
    decided_at: int | None
    refusal: str | None
