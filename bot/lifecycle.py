"""An issue's life: the states, the actions, and which action is allowed from which state.

This module is the one place that owns the state machine. It knows nothing of
Telegram or SQL; services ask it before they write anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar


class State(StrEnum):
    REPORTED = "reported"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    TRANSFERRED = "transferred"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    # closures that say why: waiting for the head's or an admin's 同意
    CLOSING = "closing"
    HELD = "held"
    """挂账: cannot be solved for now; out of the overdue counts until it is reviewed."""


class Action(StrEnum):
    REPORT = "report"
    DISPATCH = "dispatch"
    ACKNOWLEDGE = "acknowledge"
    PROGRESS = "progress"
    TRANSFER = "transfer"
    REROUTE = "reroute"
    RESOLVE = "resolve"
    CONFIRM = "confirm"
    REOPEN = "reopen"
    RATE = "rate"
    CANCEL = "cancel"
    ESCALATE = "escalate"
    REDISPATCH = "redispatch"
    """The holder can no longer act (retired, revoked): routing picks the next member."""
    RELEASE = "release"
    """The holder can no longer act and nobody else can take it: back to the admins."""
    # closures that say why, and 附议
    REQUEST_CLOSURE = "request_closure"
    """The holder asks to close it as 不属实, 重复 or 非本辖区 (bot/closures.py)."""
    APPROVE_CLOSURE = "approve_closure"
    REFUSE_CLOSURE = "refuse_closure"
    OBJECT = "object"
    """The reporter's 异议 to an approved closure: reopened as 重办 does."""
    SECOND = "second"
    """附议: a worker follows the issue instead of reporting it again (an event, no state)."""
    # extensions (延期) and 挂账: see bot/extensions.py
    ASK_EXTENSION = "ask_extension"
    EXTEND = "extend"
    REFUSE_EXTENSION = "refuse_extension"
    ASK_HOLD = "ask_hold"
    HOLD = "hold"
    REFUSE_HOLD = "refuse_hold"
    RESUME = "resume"
    """A 挂账 reviewed: back to work with a new resolve deadline."""
    EXTEND_HOLD = "extend_hold"
    CLOSE_HELD = "close_held"


OPEN_STATES: frozenset[State] = frozenset(
    {
        State.REPORTED,
        State.DISPATCHED,
        State.ACKNOWLEDGED,
        State.TRANSFERRED,
        State.REOPENED,
        State.CLOSING,
    }
)
"""States in which somebody still has to act on the issue for the street."""

ASSIGNED_STATES: frozenset[State] = frozenset(
    {State.DISPATCHED, State.ACKNOWLEDGED, State.REOPENED}
)
"""States in which a department (and usually a member) holds the issue."""

_TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.REPORTED, Action.DISPATCH): State.DISPATCHED,
    (State.DISPATCHED, Action.ACKNOWLEDGE): State.ACKNOWLEDGED,
    (State.DISPATCHED, Action.TRANSFER): State.TRANSFERRED,
    (State.ACKNOWLEDGED, Action.TRANSFER): State.TRANSFERRED,
    (State.ACKNOWLEDGED, Action.PROGRESS): State.ACKNOWLEDGED,
    (State.REOPENED, Action.PROGRESS): State.REOPENED,
    (State.ACKNOWLEDGED, Action.RESOLVE): State.RESOLVED,
    (State.REOPENED, Action.RESOLVE): State.RESOLVED,
    (State.RESOLVED, Action.CONFIRM): State.CLOSED,
    (State.RESOLVED, Action.REOPEN): State.REOPENED,
    (State.CLOSED, Action.RATE): State.CLOSED,
    (State.REPORTED, Action.REROUTE): State.DISPATCHED,
    (State.TRANSFERRED, Action.REROUTE): State.DISPATCHED,
    (State.DISPATCHED, Action.REROUTE): State.DISPATCHED,
    (State.ACKNOWLEDGED, Action.REROUTE): State.DISPATCHED,
    (State.REOPENED, Action.REROUTE): State.DISPATCHED,
    (State.REPORTED, Action.CANCEL): State.CANCELLED,
    (State.DISPATCHED, Action.CANCEL): State.CANCELLED,
    (State.ACKNOWLEDGED, Action.CANCEL): State.CANCELLED,
    (State.TRANSFERRED, Action.CANCEL): State.CANCELLED,
    (State.REOPENED, Action.CANCEL): State.CANCELLED,
}
# Escalation is a flag and an event, never a state: allowed wherever a deadline runs.
for _state in (State.DISPATCHED, State.ACKNOWLEDGED, State.REOPENED):
    _TRANSITIONS[(_state, Action.ESCALATE)] = _state
    _TRANSITIONS[(_state, Action.REDISPATCH)] = State.DISPATCHED
    _TRANSITIONS[(_state, Action.RELEASE)] = State.TRANSFERRED
# Closures that say why: the holder asks, the head or an admin decides, the reporter may
# object (重办 by another name). Refused, the holder keeps it, acknowledged.
for _state in (State.ACKNOWLEDGED, State.REOPENED):
    _TRANSITIONS[(_state, Action.REQUEST_CLOSURE)] = State.CLOSING
_TRANSITIONS[(State.CLOSING, Action.APPROVE_CLOSURE)] = State.CLOSED
_TRANSITIONS[(State.CLOSING, Action.REFUSE_CLOSURE)] = State.ACKNOWLEDGED
_TRANSITIONS[(State.CLOSED, Action.OBJECT)] = State.REOPENED
# 附议 is an event on an issue still open for the street.
for _state in OPEN_STATES:
    _TRANSITIONS[(_state, Action.SECOND)] = _state


# Extensions (延期) and 挂账: asked and decided while the holder works on it (events that
# keep the state); an approved 挂账 parks the issue until an admin reviews it.
for _state in (State.ACKNOWLEDGED, State.REOPENED):
    for _action in (
        Action.ASK_EXTENSION,
        Action.EXTEND,
        Action.REFUSE_EXTENSION,
        Action.ASK_HOLD,
        Action.REFUSE_HOLD,
    ):
        _TRANSITIONS[(_state, _action)] = _state
    _TRANSITIONS[(_state, Action.HOLD)] = State.HELD
_TRANSITIONS[(State.HELD, Action.RESUME)] = State.ACKNOWLEDGED
_TRANSITIONS[(State.HELD, Action.EXTEND_HOLD)] = State.HELD
_TRANSITIONS[(State.HELD, Action.CLOSE_HELD)] = State.CLOSED
_TRANSITIONS[(State.HELD, Action.CANCEL)] = State.CANCELLED


_S = TypeVar("_S", bound=StrEnum)
_A = TypeVar("_A", bound=StrEnum)


class _Refusal(Exception, Generic[_S, _A]):
    """An action not valid from the state it was asked in; nothing was changed."""

    def __init__(self, state: _S, action: _A, whose: str) -> None:
        super().__init__(f"{action} is not allowed while {whose} is {state}")
        self.state = state
        self.action = action


def _step(
    table: Mapping[tuple[_S, _A], _S],
    state: _S,
    action: _A,
    refused: Callable[[_S, _A], Exception],
) -> _S:
    """One step of a table-driven machine: the table's next state, or `refused`."""
    try:
        return table[(state, action)]
    except KeyError:
        raise refused(state, action) from None


class TransitionRefused(_Refusal[State, Action]):
    """The action is not valid from the issue's current state; nothing was changed."""

    def __init__(self, state: State, action: Action) -> None:
        super().__init__(state, action, "the issue")


def next_state(state: State, action: Action) -> State:
    """The state an issue moves to when `action` happens in `state`, or TransitionRefused."""
    return _step(_TRANSITIONS, state, action, TransitionRefused)


def allowed_actions(state: State) -> frozenset[Action]:
    return frozenset(action for (s, action) in _TRANSITIONS if s == state)


# --- 联合吹哨: a summoned department's life within a whistle -----------------------------
# The issue keeps its one state above (held by the lead department); each department the
# street summons to it has a state of its own here, in the same table-driven way.


class SummonState(StrEnum):
    SUMMONED = "summoned"
    """待到场: pushed, not yet on site, within the arrival limit."""
    FAR = "far"
    """Checked in farther than the radius (距离较远): not arrived; may check in again."""
    OVERDUE = "overdue"
    """逾期未到场: the arrival limit passed before an on-site check-in."""
    ARRIVED = "arrived"
    """已到场: checked in within the radius."""
    DONE = "done"
    """配合完成: a co-department finished its part (the lead finishes with 办结)."""
    RELEASED = "released"
    """Released by an admin: no longer part of the whistle."""


class SummonAction(StrEnum):
    CHECK_IN_FAR = "check_in_far"
    ARRIVE = "arrive"
    OVERDUE = "overdue"
    CO_DONE = "co_done"
    REOPEN = "reopen"
    RELEASE = "release"


ACTIVE_SUMMONS: frozenset[SummonState] = frozenset(
    {SummonState.SUMMONED, SummonState.FAR, SummonState.OVERDUE, SummonState.ARRIVED}
)
"""States in which a department still has something to do for the whistle."""

AWAITING_ARRIVAL: frozenset[SummonState] = frozenset(
    {SummonState.SUMMONED, SummonState.FAR, SummonState.OVERDUE}
)
"""States in which the department has not reported on site yet (arrival alerts run)."""

_SUMMON_TRANSITIONS: dict[tuple[SummonState, SummonAction], SummonState] = {
    (SummonState.SUMMONED, SummonAction.CHECK_IN_FAR): SummonState.FAR,
    (SummonState.FAR, SummonAction.CHECK_IN_FAR): SummonState.FAR,
    (SummonState.OVERDUE, SummonAction.CHECK_IN_FAR): SummonState.OVERDUE,
    (SummonState.SUMMONED, SummonAction.OVERDUE): SummonState.OVERDUE,
    (SummonState.FAR, SummonAction.OVERDUE): SummonState.OVERDUE,
    (SummonState.SUMMONED, SummonAction.ARRIVE): SummonState.ARRIVED,
    (SummonState.FAR, SummonAction.ARRIVE): SummonState.ARRIVED,
    (SummonState.OVERDUE, SummonAction.ARRIVE): SummonState.ARRIVED,
    (SummonState.ARRIVED, SummonAction.CO_DONE): SummonState.DONE,
    # 重办 brings every summoned department back to work (an arrival stays an arrival).
    (SummonState.DONE, SummonAction.REOPEN): SummonState.ARRIVED,
    (SummonState.ARRIVED, SummonAction.REOPEN): SummonState.ARRIVED,
}
for _summon in (
    SummonState.SUMMONED,
    SummonState.FAR,
    SummonState.OVERDUE,
    SummonState.ARRIVED,
    SummonState.DONE,
):
    _SUMMON_TRANSITIONS[(_summon, SummonAction.RELEASE)] = SummonState.RELEASED


class SummonRefused(_Refusal[SummonState, SummonAction]):
    """The action is not valid from the summoned department's state; nothing was changed."""

    def __init__(self, state: SummonState, action: SummonAction) -> None:
        super().__init__(state, action, "the department")


def next_summon_state(state: SummonState, action: SummonAction) -> SummonState:
    """The state a summoned department moves to when `action` happens, or SummonRefused."""
    return _step(_SUMMON_TRANSITIONS, state, action, SummonRefused)
