"""Closures that say why, and 附议: the pure rules (no Telegram, no SQL).

Besides 办结, the member holding an issue may close it as 不属实 (not found on site, with a
photo), 重复 (a duplicate of another issue, whose follower its reporter becomes) or 非本辖区
(not this street's or department's, saying whose). The department's head approves, or the
admins when the head asked or there is none; the reporter may object (异议), which reopens
the issue as 重办 does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot.geo import distance_meters
from bot.lifecycle import OPEN_STATES, State
from bot.permissions import Actor

NEARBY_DAYS = 7
"""附议 offers issues reported at most this long ago."""
NEARBY_WINDOW = timedelta(days=NEARBY_DAYS)
DEFAULT_NEARBY_METERS = 200
NEARBY_SHOWN = 5
"""At most this many nearby issues are offered, nearest first."""


class ClosureKind(StrEnum):
    INVALID = "invalid"
    """不属实: nothing found on site; a photo of the site is required."""
    DUPLICATE = "duplicate"
    """重复: the same problem as issue #N, which carries on; the reporter follows it."""
    ELSEWHERE = "elsewhere"
    """非本辖区: not this street's or department's to handle; the note says whose."""


EXCLUDED_FROM_RATES: frozenset[ClosureKind] = frozenset(
    {ClosureKind.INVALID, ClosureKind.DUPLICATE}
)
"""Closures that are not valid reports: they leave the weekly cohort (so the 解决率 and
满意率 denominators), as 12345 excludes invalid reports, and are counted on their own."""


def may_request(actor: Actor, department: str | None, assignee: int | None) -> bool:
    """The member holding the issue, or the head of its department."""
    return actor.user_id == assignee or (department is not None and department in actor.head_of)


def approvers(requester: int, head: int | None, admins: Iterable[int]) -> list[int]:
    """Who decides a closure: the department's head, or the admins when the head asked
    (nobody approves their own closure unless they are all there is) or there is none."""
    if head is not None and head != requester:
        return [head]
    chosen = [a for a in admins if a != requester]
    return chosen or list(admins)


def may_decide(actor: Actor, approvers_: Iterable[int], requester: int) -> bool:
    """Those asked to decide, and any admin but the one who asked (an admin who holds the
    issue does not approve their own closure unless they are all there is)."""
    return actor.user_id in set(approvers_) or (actor.admin and actor.user_id != requester)


DUPLICATE_CHAIN_LIMIT = 100
"""How far a chain of 重复 closures is followed (each link is one issue)."""


def duplicate_target_ok(
    issue_id: int, target_state: State | None, target_id: int, leads_to: Sequence[int] = ()
) -> bool:
    """重复 of another existing, not cancelled issue (it may be closed already) — but not of
    one that is closed, or asked to be closed, as 重复 of this issue, directly or through
    others (`leads_to`: the issues the target's own 重复 closures lead to): the two would
    close as each other's duplicates and nobody would handle the problem."""
    return (
        target_id != issue_id
        and target_state not in (None, State.CANCELLED)
        and issue_id not in leads_to
    )


@dataclass(frozen=True)
class Candidate:
    """An issue a new report might repeat: where and when it was reported."""

    issue_id: int
    category: str
    state: State
    reported_at: int
    latitude: float | None
    longitude: float | None


def nearby(
    candidates: Iterable[Candidate],
    category: str,
    latitude: float,
    longitude: float,
    now: int,
    meters: float,
    exclude: Iterable[int] = (),
) -> list[tuple[Candidate, float]]:
    """The open issues of `category` reported within the last 7 days and within `meters`
    (boundary included) of the point, nearest first, with their distances."""
    excluded = set(exclude)
    since = now - int(NEARBY_WINDOW.total_seconds())
    found: list[tuple[Candidate, float]] = []
    for c in candidates:
        if (
            c.category != category
            or c.state not in OPEN_STATES
            or c.reported_at < since
            or c.latitude is None
            or c.longitude is None
            or c.issue_id in excluded
        ):
            continue
        distance = distance_meters(latitude, longitude, c.latitude, c.longitude)
        if distance <= meters:
            found.append((c, distance))
    found.sort(key=lambda pair: (pair[1], pair[0].issue_id))
    return found[:NEARBY_SHOWN]
