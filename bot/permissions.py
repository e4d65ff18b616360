"""Who may do what to which issue: the one place that decides.

Every button and command is re-checked here against what the database says
about the person and the issue; nothing on a button is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.lifecycle import Action, State


class Role(StrEnum):
    ADMIN = "admin"
    WORKER = "worker"
    MEMBER = "member"
    HEAD = "head"


@dataclass(frozen=True)
class Actor:
    user_id: int
    admin: bool = False
    grids: frozenset[str] = field(default_factory=frozenset)
    member_of: frozenset[str] = field(default_factory=frozenset)
    head_of: frozenset[str] = field(default_factory=frozenset)

    @property
    def registered(self) -> bool:
        return self.admin or bool(self.grids or self.member_of or self.head_of)

    @property
    def roles(self) -> frozenset[Role]:
        roles = set()
        if self.admin:
            roles.add(Role.ADMIN)
        if self.grids:
            roles.add(Role.WORKER)
        if self.member_of:
            roles.add(Role.MEMBER)
        if self.head_of:
            roles.add(Role.HEAD)
        return frozenset(roles)

    @property
    def departments(self) -> frozenset[str]:
        return self.member_of | self.head_of

    def serves(self, department: str | None) -> bool:
        return department is not None and department in self.departments


@dataclass(frozen=True)
class IssueFacts:
    """What permission checks need to know about an issue."""

    reporter_id: int
    state: State
    department: str | None
    assignee_id: int | None
    involved: frozenset[int] = frozenset()
    """Everybody who has ever been assigned the issue."""
    followers: frozenset[int] = frozenset()
    """附议 and merged duplicates' reporters: they see it and may 确认 and rate it."""


def may_report(actor: Actor) -> bool:
    return bool(actor.grids)


def may_see(actor: Actor, issue: IssueFacts) -> bool:
    return (
        actor.admin
        or actor.user_id == issue.reporter_id
        or actor.user_id == issue.assignee_id
        or actor.user_id in issue.involved
        or actor.serves(issue.department)
        or actor.user_id in issue.followers
    )


def may(actor: Actor, action: Action, issue: IssueFacts) -> bool:
    """Whether `actor` may perform `action` on `issue` (state validity is lifecycle's job)."""
    is_assignee = issue.assignee_id == actor.user_id
    is_head = issue.department is not None and issue.department in actor.head_of
    match action:
        case Action.ACKNOWLEDGE:
            return actor.serves(issue.department)
        case Action.TRANSFER:
            if issue.state == State.DISPATCHED:
                return actor.serves(issue.department)
            return is_assignee or is_head
        case Action.PROGRESS | Action.RESOLVE:
            return is_assignee or is_head
        case Action.REROUTE:
            return actor.admin or is_head
        case Action.CONFIRM | Action.RATE:
            return actor.user_id == issue.reporter_id or actor.user_id in issue.followers
        case Action.REOPEN:
            return actor.user_id == issue.reporter_id
        case Action.CANCEL:
            return actor.user_id == issue.reporter_id or actor.admin
        case _:
            return False
