"""Callback data on inline buttons: built here, and parsed (never trusted) here.

A button carries only what identifies the action; who may do it is decided
again from the database when it is tapped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.numbers import MAX_ID, parse_id


class IssueButton(StrEnum):
    ACKNOWLEDGE = "ack"
    TRANSFER = "xfer"
    PROGRESS = "prog"
    RESOLVE = "res"
    CONFIRM = "conf"
    REOPEN = "reop"
    RATE = "rate"
    REROUTE = "rr"
    REASSIGN = "ra"
    CANCEL = "cxl"


class Rating(StrEnum):
    SATISFIED = "satisfied"
    FAIR = "fair"
    DISSATISFIED = "dissatisfied"


class IssueCallback(BaseModel):
    model_config = ConfigDict(frozen=True)

    button: IssueButton
    issue_id: Annotated[int, Field(gt=0, le=MAX_ID)]
    argument: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None

    def encode(self) -> str:
        parts = [self.button.value, str(self.issue_id)]
        if self.argument is not None:
            parts.append(self.argument)
        return ":".join(parts)


ISSUE_BUTTON_PATTERN = r"^(ack|xfer|prog|res|conf|reop|rate|rr|ra|cxl):"


def issue_button(button: IssueButton, issue_id: int, argument: str | None = None) -> str:
    return IssueCallback(button=button, issue_id=issue_id, argument=argument).encode()


def parse_issue_button(data: str | None) -> IssueCallback | None:
    """The button's meaning, or None for anything malformed."""
    if not data or len(data) > 64:
        return None
    parts = data.split(":")
    issue_id = parse_id(parts[1], hash_allowed=False) if len(parts) in (2, 3) else None
    if issue_id is None:
        return None
    try:
        return IssueCallback(
            button=parts[0],  # type: ignore[arg-type]
            issue_id=issue_id,
            argument=parts[2] if len(parts) == 3 else None,
        )
    except ValidationError:
        return None


class ReportButton(StrEnum):
    """Buttons of the report conversation."""

    START = "r:start"
    GRID = "r:grid"
    CATEGORY = "r:cat"
    SKIP = "r:skip"
    DONE = "r:done"
    URGENCY = "r:urg"
    SUBMIT = "r:submit"
    CANCEL = "r:cancel"
    # 附议
    SECOND = "r:me2"
    NOT_SAME = "r:notsame"
    WHISTLE = "r:wh"
    """联合吹哨: submit the report for the admins to blow a whistle (申请吹哨)."""


def report_button(button: ReportButton, argument: str | None = None) -> str:
    return button.value if argument is None else f"{button.value}:{argument}"


def report_argument(data: str | None, button: ReportButton) -> str | None:
    """The argument of a report button if `data` is that button, else None."""
    if not data or not data.startswith(button.value + ":"):
        return None
    argument = data[len(button.value) + 1 :]
    if (
        not argument
        or len(argument) > 32
        or not argument.replace("_", "").replace("-", "").isalnum()
    ):
        return None
    return argument
