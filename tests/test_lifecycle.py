"""The state machine: every allowed transition, and every other one refused."""

from __future__ import annotations

import pytest

from bot.lifecycle import Action, State, TransitionRefused, allowed_actions, next_state

# The whole table written out by state, as a reader checks it: what each state allows and
# where each action leads. Everything not listed is refused.
EXPECTED: dict[State, dict[Action, State]] = {
    State.REPORTED: {
        Action.DISPATCH: State.DISPATCHED,
        Action.REROUTE: State.DISPATCHED,
        Action.CANCEL: State.CANCELLED,
        Action.SECOND: State.REPORTED,
    },
    State.DISPATCHED: {
        Action.ACKNOWLEDGE: State.ACKNOWLEDGED,
        Action.TRANSFER: State.TRANSFERRED,
        Action.REROUTE: State.DISPATCHED,
        Action.CANCEL: State.CANCELLED,
        Action.ESCALATE: State.DISPATCHED,
        Action.REDISPATCH: State.DISPATCHED,
        Action.RELEASE: State.TRANSFERRED,
        Action.SECOND: State.DISPATCHED,
    },
    State.ACKNOWLEDGED: {
        Action.PROGRESS: State.ACKNOWLEDGED,
        Action.TRANSFER: State.TRANSFERRED,
        Action.REROUTE: State.DISPATCHED,
        Action.RESOLVE: State.RESOLVED,
        Action.CANCEL: State.CANCELLED,
        Action.ESCALATE: State.ACKNOWLEDGED,
        Action.REDISPATCH: State.DISPATCHED,
        Action.RELEASE: State.TRANSFERRED,
        Action.REQUEST_CLOSURE: State.CLOSING,
        Action.SECOND: State.ACKNOWLEDGED,
        Action.ASK_EXTENSION: State.ACKNOWLEDGED,
        Action.EXTEND: State.ACKNOWLEDGED,
        Action.REFUSE_EXTENSION: State.ACKNOWLEDGED,
        Action.ASK_HOLD: State.ACKNOWLEDGED,
        Action.HOLD: State.HELD,
        Action.REFUSE_HOLD: State.ACKNOWLEDGED,
    },
    State.TRANSFERRED: {
        Action.REROUTE: State.DISPATCHED,
        Action.CANCEL: State.CANCELLED,
        Action.SECOND: State.TRANSFERRED,
    },
    State.RESOLVED: {
        Action.CONFIRM: State.CLOSED,
        Action.REOPEN: State.REOPENED,
    },
    State.REOPENED: {
        Action.PROGRESS: State.REOPENED,
        Action.REROUTE: State.DISPATCHED,
        Action.RESOLVE: State.RESOLVED,
        Action.CANCEL: State.CANCELLED,
        Action.ESCALATE: State.REOPENED,
        Action.REDISPATCH: State.DISPATCHED,
        Action.RELEASE: State.TRANSFERRED,
        Action.REQUEST_CLOSURE: State.CLOSING,
        Action.SECOND: State.REOPENED,
        Action.ASK_EXTENSION: State.REOPENED,
        Action.EXTEND: State.REOPENED,
        Action.REFUSE_EXTENSION: State.REOPENED,
        Action.ASK_HOLD: State.REOPENED,
        Action.HOLD: State.HELD,
        Action.REFUSE_HOLD: State.REOPENED,
    },
    State.CLOSED: {
        Action.RATE: State.CLOSED,
        Action.OBJECT: State.REOPENED,
    },
    State.CANCELLED: {},
    State.CLOSING: {
        Action.APPROVE_CLOSURE: State.CLOSED,
        Action.REFUSE_CLOSURE: State.ACKNOWLEDGED,
        Action.SECOND: State.CLOSING,
    },
    State.HELD: {
        Action.CANCEL: State.CANCELLED,
        Action.RESUME: State.ACKNOWLEDGED,
        Action.EXTEND_HOLD: State.HELD,
        Action.CLOSE_HELD: State.CLOSED,
    },
}
ALLOWED = {(state, action): to for state, row in EXPECTED.items() for action, to in row.items()}


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


@pytest.mark.parametrize("state", list(State))
def test_each_state_allows_its_row_and_nothing_else(state: State) -> None:
    assert allowed_actions(state) == frozenset(EXPECTED[state])


def test_cancelled_and_closed_issues_accept_nothing_but_a_rating() -> None:
    assert allowed_actions(State.CANCELLED) == frozenset()
    assert allowed_actions(State.CLOSED) == {Action.RATE, Action.OBJECT}


def test_a_second_report_to_duty_is_refused() -> None:
    acknowledged = next_state(State.DISPATCHED, Action.ACKNOWLEDGE)
    with pytest.raises(TransitionRefused):
        next_state(acknowledged, Action.ACKNOWLEDGE)
