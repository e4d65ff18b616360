"""The catalogue key of each named thing a reader sees: a state, a rating, a role, a closure,
a timeline event. Written out in full so that searching the code for a key finds where it is
used; tests/test_field_names.py checks that no key is built from pieces and that each of
these tables covers its enum."""

from __future__ import annotations

from typing import Final

from bot.callbacks import Rating
from bot.closures import ClosureKind
from bot.lifecycle import State
from bot.permissions import Role

STATE_KEYS: Final[dict[State, str]] = {
    State.REPORTED: "state_reported",
    State.DISPATCHED: "state_dispatched",
    State.ACKNOWLEDGED: "state_acknowledged",
    State.TRANSFERRED: "state_transferred",
    State.RESOLVED: "state_resolved",
    State.REOPENED: "state_reopened",
    State.CLOSED: "state_closed",
    State.CANCELLED: "state_cancelled",
    State.CLOSING: "state_closing",
    State.HELD: "state_held",
}

RATING_KEYS: Final[dict[Rating, str]] = {
    Rating.SATISFIED: "rating_satisfied",
    Rating.FAIR: "rating_fair",
    Rating.DISSATISFIED: "rating_dissatisfied",
}
"""A rating's name (满意 / 基本满意 / 不满意)."""

RATE_BUTTON_KEYS: Final[dict[Rating, str]] = {
    Rating.SATISFIED: "btn_rate_satisfied",
    Rating.FAIR: "btn_rate_fair",
    Rating.DISSATISFIED: "btn_rate_dissatisfied",
}

ROLE_KEYS: Final[dict[Role, str]] = {
    Role.ADMIN: "role_admin",
    Role.HEAD: "role_head",
    Role.MEMBER: "role_member",
    Role.WORKER: "role_worker",
}

CLOSURE_KEYS: Final[dict[ClosureKind, str]] = {
    ClosureKind.INVALID: "closure_invalid",
    ClosureKind.DUPLICATE: "closure_duplicate",
    ClosureKind.ELSEWHERE: "closure_elsewhere",
}
"""A closure's name (不属实 / 重复 / 非本辖区)."""

CLOSURE_BUTTON_KEYS: Final[dict[ClosureKind, str]] = {
    ClosureKind.INVALID: "btn_close_invalid",
    ClosureKind.DUPLICATE: "btn_close_duplicate",
    ClosureKind.ELSEWHERE: "btn_close_elsewhere",
}

CLOSURE_QUESTION_KEYS: Final[dict[ClosureKind, str]] = {
    ClosureKind.INVALID: "cl_ask_invalid",
    ClosureKind.DUPLICATE: "cl_ask_duplicate",
    ClosureKind.ELSEWHERE: "cl_ask_elsewhere",
}
"""What the holder is asked for a closure's reason (a photo, a number, whose it is)."""

EVENT_KEYS: Final[dict[str, str]] = {
    "report": "ev_report",
    "dispatch": "ev_dispatch",
    "acknowledge": "ev_acknowledge",
    "progress": "ev_progress",
    "transfer": "ev_transfer",
    "reroute": "ev_reroute",
    "resolve": "ev_resolve",
    "confirm": "ev_confirm",
    "reopen": "ev_reopen",
    "rate": "ev_rate",
    "cancel": "ev_cancel",
    "escalate": "ev_escalate",
    "redispatch": "ev_redispatch",
    "release": "ev_release",
    "request_closure": "ev_request_closure",
    "approve_closure": "ev_approve_closure",
    "refuse_closure": "ev_refuse_closure",
    "object": "ev_object",
    "second": "ev_second",
    "merge": "ev_merge",
    "ask_extension": "ev_ask_extension",
    "extend": "ev_extend",
    "refuse_extension": "ev_refuse_extension",
    "ask_hold": "ev_ask_hold",
    "hold": "ev_hold",
    "refuse_hold": "ev_refuse_hold",
    "resume": "ev_resume",
    "extend_hold": "ev_extend_hold",
    "close_held": "ev_close_held",
    "whistle": "ev_whistle",
    "arrive": "ev_arrive",
    "check_in_far": "ev_check_in_far",
    "arrive_alert": "ev_arrive_alert",
    "summon": "ev_summon",
    "release_department": "ev_release_department",
    "co_done": "ev_co_done",
    "whistle_override": "ev_whistle_override",
    "street_rate": "ev_street_rate",
    "street_rate_reason": "ev_street_rate_reason",
    "ask_whistle": "ev_ask_whistle",
}
"""A timeline event's name, by the action stored with it (an `Action`'s value, or one of
the events that change no state: merge, 联合吹哨's steps)."""
