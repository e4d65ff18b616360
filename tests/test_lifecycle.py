"""The state machine: every allowed transition, and every other one refused."""

from __future__ import annotations

import pytest

from bot.lifecycle import Action, State, TransitionRefused, allowed_actions, next_state

ALLOWED: dict[tuple[State, Action], State] = {
    (State.REPORTED, Action.DISPATCH): State.DISPATCHED,
    (State.REPORTED, Action.REROUTE): State.DISPATCHED,
    (State.REPORTED, Action.CANCEL): State.CANCELLED,
    (State.DISPATCHED, Action.ACKNOWLEDGE): State.ACKNOWLEDGED,
    (State.DISPATCHED, Action.TRANSFER): State.TRANSFERRED,
    (State.DISPATCHED, Action.REROUTE): State.DISPATCHED,
    (State.DISPATCHED, Action.CANCEL): State.CANCELLED,
    (State.DISPATCHED, Action.ESCALATE): State.DISPATCHED,
    (State.ACKNOWLEDGED, Action.PROGRESS): State.ACKNOWLEDGED,
    (State.ACKNOWLEDGED, Action.RESOLVE): State.RESOLVED,
    (State.ACKNOWLEDGED, Action.TRANSFER): State.TRANSFERRED,
    (State.ACKNOWLEDGED, Action.REROUTE): State.DISPATCHED,
    (State.ACKNOWLEDGED, Action.CANCEL): State.CANCELLED,
    (State.ACKNOWLEDGED, Action.ESCALATE): State.ACKNOWLEDGED,
    (State.TRANSFERRED, Action.REROUTE): State.DISPATCHED,
    (State.TRANSFERRED, Action.CANCEL): State.CANCELLED,
    (State.RESOLVED, Action.CONFIRM): State.CLOSED,
    (State.RESOLVED, Action.REOPEN): State.REOPENED,
    (State.REOPENED, Action.PROGRESS): State.REOPENED,
    (State.REOPENED, Action.RESOLVE): State.RESOLVED,
    (State.REOPENED, Action.REROUTE): State.DISPATCHED,
    (State.REOPENED, Action.CANCEL): State.CANCELLED,
    (State.REOPENED, Action.ESCALATE): State.REOPENED,
    (State.CLOSED, Action.RATE): State.CLOSED,
}
# The holder can no longer act: to the next member, or back to the admins.
for _held in (State.DISPATCHED, State.ACKNOWLEDGED, State.REOPENED):
    ALLOWED[(_held, Action.REDISPATCH)] = State.DISPATCHED
    ALLOWED[(_held, Action.RELEASE)] = State.TRANSFERRED
# Closures that say why: asked by the holder, decided, objected to; 附议 while open.
for _held in (State.ACKNOWLEDGED, State.REOPENED):
    ALLOWED[(_held, Action.REQUEST_CLOSURE)] = State.CLOSING
ALLOWED[(State.CLOSING, Action.APPROVE_CLOSURE)] = State.CLOSED
ALLOWED[(State.CLOSING, Action.REFUSE_CLOSURE)] = State.ACKNOWLEDGED
ALLOWED[(State.CLOSED, Action.OBJECT)] = State.REOPENED
for _open in (
    State.REPORTED,
    State.DISPATCHED,
    State.ACKNOWLEDGED,
    State.TRANSFERRED,
    State.REOPENED,
    State.CLOSING,
):
    ALLOWED[(_open, Action.SECOND)] = _open
# Extensions (延期) and 挂账: asked and decided by the holder's side; an approved 挂账
# parks the issue until an admin reviews it.
for _holding in (State.ACKNOWLEDGED, State.REOPENED):
    for _event in (
        Action.ASK_EXTENSION,
        Action.EXTEND,
        Action.REFUSE_EXTENSION,
        Action.ASK_HOLD,
        Action.REFUSE_HOLD,
    ):
        ALLOWED[(_holding, _event)] = _holding
    ALLOWED[(_holding, Action.HOLD)] = State.HELD
ALLOWED[(State.HELD, Action.RESUME)] = State.ACKNOWLEDGED
ALLOWED[(State.HELD, Action.EXTEND_HOLD)] = State.HELD
ALLOWED[(State.HELD, Action.CLOSE_HELD)] = State.CLOSED
ALLOWED[(State.HELD, Action.CANCEL)] = State.CANCELLED


@pytest.mark.parametrize(("state", "action"), sorted(ALLOWED))
def test_allowed_transition(state: State, action: Action) -> None:
    assert next_state(state, action) == ALLOWED[(state, action)]


REFUSED = sorted(
    (state, action) for state in State for action in Action if (state, action) not in ALLOWED
)


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_refused_transition(state: State, action: Action) -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_state(state, action)
    assert (refused.value.state, refused.value.action) == (state, action)


def test_cancelled_and_closed_issues_accept_nothing_but_a_rating() -> None:
    assert allowed_actions(State.CANCELLED) == frozenset()
    assert allowed_actions(State.CLOSED) == {Action.RATE, Action.OBJECT}


def test_a_second_report_to_duty_is_refused() -> None:
    acknowledged = next_state(State.DISPATCHED, Action.ACKNOWLEDGE)
    with pytest.raises(TransitionRefused):
        next_state(acknowledged, Action.ACKNOWLEDGE)
