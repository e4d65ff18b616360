"""Who answers a whistle: category → department (grid override) → member.

A pure function of the organisation, the roster, the clock and the open load,
so it is tested as one. The member is the one on duty now; with nobody on
duty (or no roster) the member with the fewest open issues, ties broken by
the longest idle (oldest last dispatch, never-dispatched first), then by id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.organisation import Organisation


@dataclass(frozen=True)
class MemberLoad:
    open_issues: int = 0
    last_dispatched_at: datetime | None = None


class RouteReason(StrEnum):
    ON_DUTY = "on_duty"
    LEAST_LOAD = "least_load"
    HEAD = "head"
    NOBODY = "nobody"


@dataclass(frozen=True)
class Staff:
    """The people of a department who can take its issues: its members and its heads (the
    organisation file's and those who joined by invite, none retired or revoked), the
    file's head first. The one definition routing, rerouting, re-dispatch and escalation
    use."""

    members: tuple[int, ...]
    heads: tuple[int, ...]

    @property
    def everyone(self) -> frozenset[int]:
        return frozenset((*self.members, *self.heads))

    @classmethod
    def from_file(cls, org: Organisation, department: str) -> Staff:
        """The staff the organisation file names (no invites)."""
        dept = org.departments[department]
        return cls(tuple(dept.members), (dept.head,) if dept.head is not None else ())


@dataclass(frozen=True)
class Route:
    department: str
    member: int | None
    reason: RouteReason


def _least_loaded(candidates: list[int], load: Mapping[int, MemberLoad]) -> int:
    def key(member: int) -> tuple[int, int, float, int]:
        entry = load.get(member, MemberLoad())
        idle_since = entry.last_dispatched_at
        never = 0 if idle_since is None else 1
        stamp = idle_since.timestamp() if idle_since is not None else 0.0
        return (entry.open_issues, never, stamp, member)

    return min(candidates, key=key)


def choose_member(
    org: Organisation,
    department: str,
    now: datetime,
    load: Mapping[int, MemberLoad],
    exclude: frozenset[int] = frozenset(),
    staff: Staff | None = None,
) -> Route:
    """The member of `department` who should get a new issue at `now`; `staff` is who the
    department has (by default, whom the organisation file names)."""
    staff = staff or Staff.from_file(org, department)
    local = now.astimezone(org.timezone)
    minute = local.hour * 60 + local.minute
    on_duty = sorted(
        {
            shift.member
            for shift in org.shifts
            if shift.department == department
            and shift.member not in exclude
            and shift.covers(local.weekday(), minute)
        }
    )
    if on_duty:
        return Route(department, _least_loaded(on_duty, load), RouteReason.ON_DUTY)
    members = [m for m in staff.members if m not in exclude]
    if members:
        return Route(department, _least_loaded(members, load), RouteReason.LEAST_LOAD)
    for head in staff.heads:
        if head not in exclude:
            return Route(department, head, RouteReason.HEAD)
    return Route(department, None, RouteReason.NOBODY)


def route(
    org: Organisation,
    category: str,
    grid: str | None,
    now: datetime,
    load: Mapping[int, MemberLoad],
) -> Route:
    """Where a new report on `category` in `grid` goes at `now`."""
    return choose_member(org, org.department_for(category, grid), now, load)
