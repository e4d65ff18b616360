"""联合吹哨 on the issue's card: the summoned departments and their states, and the
whistle's buttons (到场, 配合完成, 吹哨 and the department picker). Pure: it renders what
it is given."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.i18n import Html, escape, plain, text
from bot.lifecycle import SummonState
from bot.numbers import parse_id
from bot.views import Buttons, Names, local_time, rating_name
from bot.whistles import Summons, WhistleRecord


class WhistleButton(StrEnum):
    START = "ws"
    """吹哨 on an admin's card: open the department picker."""
    PICK = "wp"
    """Toggle one department in the picker (the first picked leads)."""
    BLOW = "wb"
    """Blow the whistle on the picked departments."""
    ARRIVE = "wa"
    """到场: check in on site for one department."""
    CO_DONE = "wd"
    """配合完成: a co-department's part is done."""
    RATE = "wr"
    """The street's rating of one summoned department (argument: code.rating)."""
    FINISH = "wf"
    """提交 / 跳过 of a whistle prompt: 配合完成's photos, the rating's reason."""


WHISTLE_BUTTON_PATTERN = r"^w[spbadrf]:"


def whistle_button(button: WhistleButton, issue_id: int, argument: str | None = None) -> str:
    return f"{button.value}:{issue_id}" + (f":{argument}" if argument is not None else "")


def parse_whistle_button(data: str | None) -> tuple[WhistleButton, int, str | None] | None:
    """The button's meaning, or None for anything malformed."""
    if not data or len(data) > 64:
        return None
    parts = data.split(":")
    if len(parts) not in (2, 3):
        return None
    try:
        button = WhistleButton(parts[0])
    except ValueError:
        return None
    issue_id = parse_id(parts[1], hash_allowed=False)
    if issue_id is None:
        return None
    argument = parts[2] if len(parts) == 3 else None
    if argument is not None and not (
        0 < len(argument) <= 40
        and argument.replace("_", "").replace("-", "").replace(".", "").isalnum()
    ):
        return None
    return button, issue_id, argument


def on_group_cards(data: str | None) -> bool:
    """Whether a tap is one of the whistle's buttons that a department's group card shows
    (到场, 配合完成): they work in a group like the issue buttons."""
    parsed = parse_whistle_button(data)
    return parsed is not None and parsed[0] in (WhistleButton.ARRIVE, WhistleButton.CO_DONE)


def summons_line(lang: str, summons: Summons, lead: str, names: Names, zone: ZoneInfo) -> Html:
    state = SummonState(summons.state)
    department = names.department(summons.department_code)
    if summons.department_code == lead:
        department = plain(lang, "wh_lead_tag", department=department)
    match state:
        case SummonState.ARRIVED | SummonState.DONE:
            status = text(
                lang,
                "wh_st_arrived",
                time=local_time(summons.arrived_at, zone, with_date=False),
                meters=summons.arrived_meters if summons.arrived_meters is not None else "-",
                name=names.person(summons.arrived_by),
            )
            if state == SummonState.DONE:
                status = Html(
                    status + text(lang, "wh_st_done", time=local_time(summons.done_at, zone, False))
                )
        case SummonState.FAR:
            status = text(lang, "wh_st_far", meters=summons.last_meters or 0)
        case SummonState.OVERDUE:
            status = text(lang, "wh_st_overdue")
        case SummonState.RELEASED:
            status = text(lang, "wh_st_released")
        case _:
            status = text(
                lang, "wh_st_waiting", due=local_time(summons.arrive_deadline, zone, False)
            )
    if summons.street_rating:
        status = Html(
            status + text(lang, "wh_st_rated", rating=rating_name(lang, summons.street_rating))
        )
    return Html(
        f"· {escape(department)}：{status}" if lang == "zh" else f"· {escape(department)}: {status}"
    )


def whistle_section(
    lang: str,
    whistle: WhistleRecord,
    summoned: Sequence[Summons],
    names: Names,
    zone: ZoneInfo,
) -> Html:
    lines = [text(lang, "wh_card_title", lead=names.department(whistle.lead))]
    lines += [summons_line(lang, s, whistle.lead, names, zone) for s in summoned]
    return Html("\n".join(lines))


def whistle_buttons(
    lang: str, issue_id: int, arrive_for: Sequence[str], done_for: Sequence[str], names: Names
) -> Buttons:
    """到场 for each department this chat may check in for, 配合完成 for each
    co-department of this chat that is on site."""
    rows: Buttons = []
    many = len(arrive_for) + len(done_for) > 1
    for code in arrive_for:
        label = plain(lang, "wh_btn_arrive")
        rows.append(
            [
                (
                    f"{label} · {names.department(code)}" if many else label,
                    whistle_button(WhistleButton.ARRIVE, issue_id, code),
                )
            ]
        )
    for code in done_for:
        label = plain(lang, "wh_btn_co_done")
        rows.append(
            [
                (
                    f"{label} · {names.department(code)}" if many else label,
                    whistle_button(WhistleButton.CO_DONE, issue_id, code),
                )
            ]
        )
    return rows


def picker(
    lang: str, issue_id: int, departments: Sequence[tuple[str, str]], picked: Sequence[str]
) -> tuple[Html, Buttons]:
    """The admin's department picker: one button per department (✓ with its place in the
    order; the first leads), then 吹哨."""
    rows: Buttons = []
    row: list[tuple[str, str]] = []
    for code, name in departments:
        mark = f"✓{picked.index(code) + 1} " if code in picked else ""
        row.append((f"{mark}{name}", whistle_button(WhistleButton.PICK, issue_id, code)))
        if len(row) == 2:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    if picked:
        rows.append(
            [(plain(lang, "wh_btn_blow_now"), whistle_button(WhistleButton.BLOW, issue_id))]
        )
    chosen = "、".join(name for code in picked for c, name in departments if c == code) or "-"
    return text(lang, "wh_pick_prompt", id=issue_id, chosen=chosen), rows
