"""An issue as the store hands it to the views, for tests of cards without a database."""

from __future__ import annotations

from bot.lifecycle import State
from bot.records import IssueRecord


def issue_record(**changes: object) -> IssueRecord:
    """Issue #7, a cg sanitation report by 2001 in G01 dispatched to 1002, with no place;
    `changes` replace any of its fields."""
    fields: dict[str, object] = {
        **dict.fromkeys(("acknowledged_at", "resolved_at", "closed_at", "cancelled_at"), None),
        "id": 7,
        "reporter_id": 2001,
        "grid_code": "G01",
        "category_code": "sanitation",
        "description": "Bins overflowing",
        "urgent": False,
        "latitude": None,
        "longitude": None,
        "address": None,
        "state": State.DISPATCHED,
        "department_code": "cg",
        "assignee_id": 1002,
        "reported_at": 1_800_000_000,
        "dispatched_at": 1_800_000_000,
        "ack_deadline": 1_800_001_800,
        "resolve_deadline": 1_800_086_400,
        "rating": None,
        "reopen_count": 0,
        "transfer_count": 0,
        "escalated": False,
        "draft_key": "",
        **changes,
    }
    return IssueRecord(**fields)  # type: ignore[arg-type]
