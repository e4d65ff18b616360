"""How issues look in a chat: the issue card, its buttons, lists and the timeline.

Pure functions from records to (HTML text, buttons); the outbox and the handlers
turn them into Bot API calls. One card serves every chat that shows the issue,
with the buttons that chat's audience may use, so an edited card never lies.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.callbacks import IssueButton, Rating, ReportButton, issue_button, report_button
from bot.clock import from_epoch
from bot.closures import ClosureKind
from bot.i18n import Html, escape, plain, text
from bot.labels import (
    CLOSURE_BUTTON_KEYS,
    EVENT_KEYS,
    RATE_BUTTON_KEYS,
    RATING_KEYS,
    ROLE_KEYS,
    STATE_KEYS,
)
from bot.lifecycle import (
    ASSIGNED_STATES,
    Action,
    State,
    TransitionRefused,
    next_state,
)
from bot.maps import MapApp, map_link, maps_for
from bot.message_limits import TEXT_LIMIT, shorten_plain, telegram_length, visible_length
from bot.permissions import Actor, Role
from bot.records import Draft, EventRecord, IssueRecord
from bot.report_steps import Step

Buttons = list[list[tuple[str, str]]]
SHORTENED_AT_LEAST_TO = 40


@dataclass(frozen=True)
class Rendered:
    text: Html
    buttons: Buttons = field(default_factory=list)

    def payload(
        self, *, with_markup_always: bool = False, as_caption: bool = False
    ) -> dict[str, Any]:
        """The Bot API parameters of this text: a message's, or a photo's caption."""
        body: dict[str, Any] = (
            {"caption": str(self.text), "parse_mode": "HTML"}
            if as_caption
            else {
                "text": str(self.text),
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": True},
            }
        )
        if self.buttons or with_markup_always:
            body["reply_markup"] = keyboard(self.buttons)
        return body


@dataclass(frozen=True)
class Answer:
    """A short answer chosen by a service: a catalogue key and its values, shown in the
    person's language as a message or as the answer to a tap (a `Refused` is the same for
    a request that changed nothing)."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)


def keyboard(buttons: Buttons) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": label, "callback_data": data} for label, data in row] for row in buttons
        ]
    }


@dataclass(frozen=True)
class Names:
    """Display names for codes and people, retired ones included."""

    departments: dict[str, str]
    categories: dict[str, str]
    grids: dict[str, str]
    people: dict[int, str]

    def department(self, code: str | None) -> str:
        return self.departments.get(code or "", code or "-")

    def category(self, code: str) -> str:
        return self.categories.get(code, code)

    def grid(self, code: str) -> str:
        return self.grids.get(code, code)

    def person(self, user_id: int | None) -> str:
        if user_id is None:
            return "-"
        return self.people.get(user_id) or str(user_id)


class Audience(StrEnum):
    ASSIGNEE = "assignee"
    GROUP = "group"
    HEAD = "head"
    ADMIN = "admin"
    OTHER = "other"


def local_time(epoch: int | None, zone: ZoneInfo, with_date: bool = True) -> str:
    if epoch is None:
        return "-"
    moment = from_epoch(epoch).astimezone(zone)
    return moment.strftime("%m-%d %H:%M" if with_date else "%H:%M")


def duration(lang: str, span: timedelta) -> str:
    """One way of writing a span everywhere: 5 分钟, 2 小时 5 分钟, 3 天 4 小时 (a zero
    smaller unit is left out: 2 小时, 3 天)."""
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 60:
        return plain(lang, "dur_minutes", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes == 0:
            return plain(lang, "dur_hours_whole", h=hours)
        return plain(lang, "dur_hours", h=hours, m=minutes)
    days, hours = divmod(hours, 24)
    if hours == 0:
        return plain(lang, "dur_days_whole", d=days)
    return plain(lang, "dur_days", d=days, h=hours)


def location_text(lang: str, issue: IssueRecord) -> str:
    if issue.address:
        return issue.address
    if issue.latitude is not None and issue.longitude is not None:
        return f"📍 {issue.latitude:.5f}, {issue.longitude:.5f}"
    return plain(lang, "location_none")


# places: the card's links that open a shared location in a map app
MAP_NAME_KEYS: dict[MapApp, str] = {
    MapApp.AMAP: "map_amap",
    MapApp.BAIDU: "map_baidu",
    MapApp.OSM: "map_osm",
    MapApp.APPLE: "map_apple",
}
"""Each map app's name as the card's link shows it."""


def map_links_line(
    lang: str, issue: IssueRecord, names: Names, maps: Sequence[MapApp]
) -> Html | None:
    """地图：高德地图 · 百度地图, each a link to the reported point; None without one."""
    if issue.latitude is None or issue.longitude is None:
        return None
    pin = plain(lang, "map_pin", id=issue.id, category=names.category(issue.category_code))
    links = [
        Html(
            f'<a href="{html.escape(map_link(app, issue.latitude, issue.longitude, pin))}">'
            f"{escape(plain(lang, MAP_NAME_KEYS[app]))}</a>"
        )
        for app in maps_for(lang, maps)
    ]
    return _field(lang, "f_map", Html(plain(lang, "map_separator").join(links)))


def state_name(lang: str, state: State | str) -> str:
    return plain(lang, STATE_KEYS[State(state)])


def rating_name(lang: str, rating: Rating | str) -> str:
    return plain(lang, RATING_KEYS[Rating(rating)])


def card_buttons(
    lang: str,
    issue: IssueRecord,
    audience: Audience,
    reroute_to: Sequence[tuple[str, str]],
    reassign_to: Sequence[tuple[int, str]] = (),
    overdue: bool = False,
) -> Buttons:
    """The card's buttons for `audience`; `overdue`: see street_reroutes."""

    def button(key: str, kind: IssueButton, argument: str | None = None) -> tuple[str, str]:
        return plain(lang, key), issue_button(kind, issue.id, argument)

    if audience == Audience.ASSIGNEE and issue.state in (State.ACKNOWLEDGED, State.REOPENED):
        # the holder's rows: the group's buttons, 不属实 / 重复 / 非本辖区, 申请延期 / 挂账
        return [
            *card_buttons(lang, issue, Audience.GROUP, reroute_to, reassign_to),
            [
                (plain(lang, CLOSURE_BUTTON_KEYS[kind]), f"clr:{issue.id}:{kind.value}")
                for kind in ClosureKind
            ],
            extension_buttons(lang, issue),
        ]
    if audience == Audience.ADMIN and issue.state == State.HELD:
        return hold_review_buttons(lang, issue.id)
    if audience in (Audience.ASSIGNEE, Audience.GROUP):
        if issue.state == State.DISPATCHED:
            return [
                [
                    button("btn_ack", IssueButton.ACKNOWLEDGE),
                    button("btn_transfer", IssueButton.TRANSFER),
                ]
            ]
        if issue.state == State.ACKNOWLEDGED:
            return [
                [
                    button("btn_progress", IssueButton.PROGRESS),
                    button("btn_resolve", IssueButton.RESOLVE),
                ],
                [button("btn_transfer", IssueButton.TRANSFER)],
            ]
        if issue.state == State.REOPENED:
            return [
                [
                    button("btn_progress", IssueButton.PROGRESS),
                    button("btn_resolve", IssueButton.RESOLVE),
                ]
            ]
    return _steering_buttons(lang, issue, audience, reroute_to, reassign_to, overdue)


def _steering_buttons(
    lang: str,
    issue: IssueRecord,
    audience: Audience,
    reroute_to: Sequence[tuple[str, str]],
    reassign_to: Sequence[tuple[int, str]],
    overdue: bool,
) -> Buttons:
    """A head's buttons to hand the issue to another member; the admins' 改派."""
    if audience == Audience.HEAD and issue.state in ASSIGNED_STATES:
        labels = [
            (
                plain(lang, "btn_reassign", name=name),
                issue_button(IssueButton.REASSIGN, issue.id, str(member)),
            )
            for member, name in reassign_to
            if member != issue.assignee_id
        ]
        return _pairs(labels)
    if audience == Audience.ADMIN and street_reroutes(issue, overdue):
        return reroute_buttons(lang, issue.id, reroute_to)
    return []


OVERDUE_ENDS: frozenset[Action] = frozenset(
    {
        Action.DISPATCH,
        Action.REDISPATCH,
        Action.REROUTE,
        Action.ACKNOWLEDGE,
        Action.TRANSFER,
        Action.REOPEN,
        Action.OBJECT,
        Action.EXTEND,
        Action.HOLD,
        Action.RESUME,
        Action.RELEASE,
    }
)
"""After these the issue is no longer overdue as it was: a new holder, its 报到, or new
deadlines. An escalation before the latest of them no longer asks the street to decide."""


def street_reroutes(issue: IssueRecord, overdue: bool = False) -> bool:
    """Whether the admins' card offers 改派: while the street has to decide where the issue
    goes — not routed, handed back (退回), sent to a department with nobody named to take
    it — or while it is overdue (`overdue`: escalated since the issue last moved on, see
    OVERDUE_ENDS). After 改派 to a person, and after 报到, the buttons go: the card no
    longer asks for a decision the street has made (`/reroute` still moves any open
    issue). Never where 改派 is not a step the issue can take (挂账, a closure waiting)."""
    try:
        next_state(issue.state, Action.REROUTE)
    except TransitionRefused:
        return False
    if overdue or issue.state in (State.REPORTED, State.TRANSFERRED):
        return True
    return issue.state == State.DISPATCHED and issue.assignee_id is None


# extensions and 挂账: the holder asks; the admins review a 挂账 (handlers/extensions.py)
def extension_buttons(lang: str, issue: IssueRecord) -> list[tuple[str, str]]:
    return [
        (plain(lang, "btn_extend"), f"ext:{issue.id}"),
        (plain(lang, "btn_hold"), f"hold:{issue.id}"),
    ]


def hold_review_buttons(lang: str, issue_id: int) -> Buttons:
    return [
        [
            (plain(lang, "btn_hold_resume"), f"hv:{issue_id}:go"),
            (plain(lang, "btn_hold_more"), f"hv:{issue_id}:more"),
        ],
        [(plain(lang, "btn_hold_close"), f"hv:{issue_id}:close")],
    ]


def resolve_by_text(lang: str, issue: IssueRecord, zone: ZoneInfo) -> str:
    """The resolve deadline; once extended, 延期至 10-15（原时限 10-09）."""
    original = issue.original_resolve_deadline
    if original is None or original == issue.resolve_deadline:
        return local_time(issue.resolve_deadline, zone)

    def day(epoch: int | None) -> str:
        return from_epoch(epoch).astimezone(zone).strftime("%m-%d") if epoch else "-"

    return plain(lang, "card_extended", until=day(issue.resolve_deadline), original=day(original))


def reroute_buttons(lang: str, issue_id: int, departments: Sequence[tuple[str, str]]) -> Buttons:
    labels = [
        (
            plain(lang, "btn_reroute", department=name),
            issue_button(IssueButton.REROUTE, issue_id, code),
        )
        for code, name in departments
    ]
    return [labels[i : i + 2] for i in range(0, len(labels), 2)]


def shows_resolution_note(issue: IssueRecord) -> bool:
    """Whether the card shows the resolution note (so whether it need be looked up)."""
    return issue.state in (State.RESOLVED, State.CLOSED)


def issue_card(
    lang: str,
    issue: IssueRecord,
    names: Names,
    zone: ZoneInfo,
    audience: Audience,
    *,
    resolution_note: str | None = None,
    reroute_to: Sequence[tuple[str, str]] = (),
    reassign_to: Sequence[tuple[int, str]] = (),
    limit: int = TEXT_LIMIT,
    maps: Sequence[MapApp] = (),
    overdue: bool = False,
) -> Rendered:
    """The live card of an issue for one audience. Over `limit` (a message's text, or a
    photo's caption), the description and the resolution note are shortened, with "…",
    until it fits; the whole text stays one /issue away. A shared location links to
    `maps` (none given: the language's default, bot/maps.py)."""

    def body(description: str, note: str | None) -> Html:
        return _card_body(lang, issue, names, zone, description, note, maps)

    card = body(issue.description, resolution_note)
    excess = visible_length(card) - limit
    if excess > 0:
        description, note = _shorten_free_texts(issue.description, resolution_note, excess)
        card = body(description, note)
    return Rendered(card, card_buttons(lang, issue, audience, reroute_to, reassign_to, overdue))


def _shorten(value: str, by: int, keep: int) -> tuple[str, int]:
    """`value` shortened by up to `by` units (never below `keep`) and ended with "…", and
    how many units that saved."""
    length = telegram_length(value)
    room = max(keep, length - by - 1)
    if room >= length:
        return value, 0
    cut = value[:room]
    while telegram_length(cut) > room:
        cut = cut[:-1]
    return cut + "…", length - telegram_length(cut) - 1


def _shorten_free_texts(description: str, note: str | None, excess: int) -> tuple[str, str | None]:
    """Shorten what people wrote — the description first, then the resolution note — by
    `excess` units; each keeps a readable start unless that is still too long."""
    for keep in (SHORTENED_AT_LEAST_TO, 0):
        description, saved = _shorten(description, excess, keep)
        excess -= saved
        if note is not None and excess > 0:
            note, saved = _shorten(note, excess, keep)
            excess -= saved
        if excess <= 0:
            break
    return description, note


def _card_body(
    lang: str,
    issue: IssueRecord,
    names: Names,
    zone: ZoneInfo,
    description: str,
    resolution_note: str | None,
    maps: Sequence[MapApp] = (),
) -> Html:
    icon = "🔴" if issue.urgent else "🔔"
    map_links = map_links_line(lang, issue, names, maps)
    lines = [
        text(
            lang,
            "card_title",
            icon=Html(icon),
            id=issue.id,
            urgent=Html(text(lang, "urgent_tag")) if issue.urgent else Html(""),
            category=names.category(issue.category_code),
        ),
        _field(lang, "f_state", Html(f"<b>{escape(state_name(lang, issue.state))}</b>")),
        _field(lang, "f_grid", names.grid(issue.grid_code)),
        _field(
            lang,
            "f_reporter",
            f"{names.person(issue.reporter_id)} · {local_time(issue.reported_at, zone)}",
        ),
        _field(lang, "f_description", description),
        _field(lang, "f_location", location_text(lang, issue)),
        *([map_links] if map_links else []),
        _field(lang, "f_department", names.department(issue.department_code)),
        _field(
            lang,
            "f_assignee",
            names.person(issue.assignee_id) if issue.assignee_id else plain(lang, "nobody"),
        ),
    ]
    lines.extend(_progress_lines(lang, issue, names, zone, resolution_note))
    return Html("\n".join(lines))


def _progress_lines(
    lang: str,
    issue: IssueRecord,
    names: Names,
    zone: ZoneInfo,
    resolution_note: str | None,
) -> list[Html]:
    """The card's lines on how far the issue has come: its deadlines, who reported to duty
    and when, the resolution note and the rating."""
    lines: list[Html] = []
    if issue.state in (State.DISPATCHED, State.REPORTED):
        lines.append(_field(lang, "f_ack_by", local_time(issue.ack_deadline, zone)))
    if issue.state == State.HELD:
        lines.append(_field(lang, "f_held", local_time(issue.held_until, zone)))
    elif issue.state not in (State.CLOSED, State.CANCELLED):
        lines.append(_field(lang, "f_resolve_by", resolve_by_text(lang, issue, zone)))
    if issue.acknowledged_at is not None:
        lines.append(
            _field(
                lang,
                "f_acknowledged",
                plain(
                    lang,
                    "card_acknowledged_by",
                    name=names.person(issue.assignee_id),
                    time=local_time(issue.acknowledged_at, zone),
                ),
            )
        )
    if resolution_note and shows_resolution_note(issue):
        lines.append(_field(lang, "f_resolution", resolution_note))
    if issue.rating:
        lines.append(_field(lang, "f_rating", rating_name(lang, issue.rating)))
    return lines


def _field(lang: str, key: str, value: object) -> Html:
    return Html(
        f"{escape(plain(lang, key))}：{escape(value)}"
        if lang == "zh"
        else f"{escape(plain(lang, key))}: {escape(value)}"
    )


def resolution_buttons(lang: str, issue_id: int) -> Buttons:
    return [
        [
            (plain(lang, "btn_confirm"), issue_button(IssueButton.CONFIRM, issue_id)),
            (plain(lang, "btn_reopen"), issue_button(IssueButton.REOPEN, issue_id)),
        ]
    ]


def reporter_buttons(lang: str, issue: IssueRecord) -> Buttons:
    """What the reporter's notices offer in the issue's current state: 确认 / 重办 while it
    is resolved, the ratings once it is closed and not yet rated."""
    if issue.state == State.RESOLVED:
        return resolution_buttons(lang, issue.id)
    if issue.state == State.CLOSED and not issue.rating:
        return rating_buttons(lang, issue.id)
    return []


def offers(buttons: Buttons, data: str) -> bool:
    """Whether one of `buttons` carries exactly `data`."""
    return any(carried == data for row in buttons for _, carried in row)


def rating_buttons(lang: str, issue_id: int) -> Buttons:
    return [
        [
            (plain(lang, RATE_BUTTON_KEYS[r]), issue_button(IssueButton.RATE, issue_id, r.value))
            for r in Rating
        ]
    ]


_WHISTLE_STEPS = frozenset(
    {
        "arrive",
        "check_in_far",
        "arrive_alert",
        "co_done",
        "summon",
        "release_department",
        "street_rate",
        "street_rate_reason",
    }
)
"""联合吹哨's timeline events that concern one summoned department."""


def timeline(
    lang: str,
    issue: IssueRecord,
    history: Sequence[EventRecord],
    names: Names,
    zone: ZoneInfo,
    photos: Mapping[int, int] | None = None,
) -> Html:
    """The issue's timeline; `photos`: how many photos came with an event (by its id)."""
    lines = [text(lang, "timeline_header")]
    for event in history:
        actor = names.person(event.actor_id) if event.actor_id else plain(lang, "system")
        detail = ""
        if event.action in ("dispatch", "reroute"):
            department = names.department(event.department_code)
            if event.assignee_id:
                member = names.person(event.assignee_id)
                detail = plain(lang, "tl_to_member", department=department, member=member)
            else:
                detail = plain(lang, "tl_to", department=department)
        note = event.note
        if note and event.action == "rate":
            note = rating_name(lang, note)
        if event.action in _WHISTLE_STEPS:  # 联合吹哨: the department the step concerns
            detail = f" · {names.department(event.department_code)}"
            if note and event.action == "street_rate":
                note = rating_name(lang, note)
        if note:
            detail += plain(lang, "tl_note", note=note)
        if photos and photos.get(event.id):  # 联合吹哨: 配合完成's photos
            detail += plain(lang, "tl_photos", n=photos[event.id])
        lines.append(
            text(
                lang,
                "timeline_line",
                time=from_epoch(event.at).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                actor=actor,
                action=plain(lang, EVENT_KEYS[event.action]),
                note=detail,
            )
        )
    return Html("\n".join(lines))


def deadline_status(lang: str, issue: IssueRecord, now: datetime) -> str:
    due = issue.ack_deadline if issue.state == State.DISPATCHED else issue.resolve_deadline
    if due is None:
        return "-"
    left = from_epoch(due) - now
    if left.total_seconds() >= 0:
        return plain(lang, "deadline_left", left=duration(lang, left))
    return plain(lang, "deadline_late", late=duration(lang, -left))


def report_prompt(
    lang: str,
    draft: Draft,
    grids: Sequence[tuple[str, str]],
    categories: Sequence[tuple[str, str]],
    names: Names,
) -> Rendered:
    """What the worker sees at the draft's current step."""
    cancel = [(plain(lang, "btn_cancel"), report_button(ReportButton.CANCEL))]
    step = draft.step
    if step == Step.GRID:
        return _choices(lang, "report_choose_grid", ReportButton.GRID, grids, cancel)
    if step == Step.CATEGORY:
        return _choices(lang, "report_choose_category", ReportButton.CATEGORY, categories, cancel)
    if step == Step.DESCRIPTION:
        return Rendered(text(lang, "report_ask_description"), [cancel])
    if step == Step.PHOTOS:
        label, data = (
            ("btn_done", ReportButton.DONE) if draft.photos else ("btn_skip", ReportButton.SKIP)
        )
        return Rendered(
            text(lang, "report_ask_photos"), [[(plain(lang, label), report_button(data))], cancel]
        )
    if step == Step.LOCATION:
        return Rendered(
            text(lang, "report_ask_location"),
            [[(plain(lang, "btn_skip"), report_button(ReportButton.SKIP))], cancel],
        )
    if step == Step.URGENCY:
        return Rendered(
            text(lang, "report_ask_urgency"),
            [
                [
                    (plain(lang, "btn_normal"), report_button(ReportButton.URGENCY, "0")),
                    (plain(lang, "btn_urgent"), report_button(ReportButton.URGENCY, "1")),
                ],
                cancel,
            ],
        )
    if step == Step.OFFER:
        key = "report_offer_photo" if draft.photos else "report_offer_text"
        return Rendered(
            text(lang, key),
            [[(plain(lang, "btn_start_report"), report_button(ReportButton.START)), *cancel]],
        )
    return _report_summary(lang, draft, names, cancel)


def _choices(
    lang: str,
    key: str,
    kind: ReportButton,
    options: Sequence[tuple[str, str]],
    cancel: list[tuple[str, str]],
) -> Rendered:
    """A question answered by picking one of `options` (code, name), two buttons a row."""
    return Rendered(
        text(lang, key),
        [*_pairs([(name, report_button(kind, code)) for code, name in options]), cancel],
    )


def _report_summary(
    lang: str, draft: Draft, names: Names, cancel: list[tuple[str, str]]
) -> Rendered:
    """The whole report before it is submitted, with 提交 and 联合吹哨."""
    location = plain(lang, "location_none")
    if draft.address:
        location = draft.address
    elif draft.latitude is not None and draft.longitude is not None:
        location = f"📍 {draft.latitude:.5f}, {draft.longitude:.5f}"

    def summary(description: str) -> Html:
        return text(
            lang,
            "report_summary",
            category=names.category(draft.category_code or ""),
            grid=names.grid(draft.grid_code or ""),
            description=description,
            photos=len(draft.photos),
            location=location,
            urgency=plain(lang, "urgency_urgent" if draft.urgent else "urgency_normal"),
        )

    # The summary is edited in place (one message, never split): a description too long
    # for it is shown shortened; the report keeps all of it.
    room = TEXT_LIMIT - visible_length(summary(""))
    return Rendered(
        summary(shorten_plain(draft.description or "", room)),
        [
            [(plain(lang, "btn_submit"), report_button(ReportButton.SUBMIT)), *cancel],
            [(plain(lang, "wh_btn_ask"), report_button(ReportButton.WHISTLE))],  # 联合吹哨
        ],
    )


def _pairs(buttons: list[tuple[str, str]]) -> Buttons:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def issue_line(
    lang: str, key: str, issue: IssueRecord, names: Names, zone: ZoneInfo, now: datetime
) -> Html:
    return text(
        lang,
        key,
        id=issue.id,
        urgent=Html(text(lang, "urgent_tag")) if issue.urgent else Html(""),
        category=names.category(issue.category_code),
        grid=names.grid(issue.grid_code),
        state=state_name(lang, issue.state),
        time=local_time(issue.reported_at, zone),
        deadline=held_review(lang, issue, zone)
        if issue.state == State.HELD
        else deadline_status(lang, issue, now),
    )


def held_review(lang: str, issue: IssueRecord, zone: ZoneInfo) -> str:
    """An issue in 挂账 in a list: its review date, and that it is not overdue."""
    review = from_epoch(issue.held_until).astimezone(zone) if issue.held_until else None
    return plain(lang, "list_held", review=review.strftime("%m-%d") if review else "-")


def issue_list(
    lang: str,
    header: Html,
    line_key: str,
    issues: Sequence[IssueRecord],
    names: Names,
    zone: ZoneInfo,
    now: datetime,
) -> Rendered:
    """A header and one line per issue (/my, /todo, /pending)."""
    lines = [header, *(issue_line(lang, line_key, issue, names, zone, now) for issue in issues)]
    return Rendered(Html("\n".join(lines)))


def report_receipt(lang: str, issue: IssueRecord, names: Names, zone: ZoneInfo) -> Html:
    """What the reporter reads once the report is in: where it went and by when."""
    if issue.assignee_id is None and issue.department_code is None:
        return text(lang, "report_submitted_unrouted", id=issue.id)
    member = (
        text(lang, "report_submitted_member", name=names.person(issue.assignee_id))
        if issue.assignee_id
        else Html("")
    )
    return text(
        lang,
        "report_submitted",
        id=issue.id,
        department=names.department(issue.department_code),
        member=member,
        ack_by=local_time(issue.ack_deadline, zone),
        resolve_by=local_time(issue.resolve_deadline, zone),
    )


def roles_text(lang: str, actor: Actor) -> str:
    """The person's roles by name, the highest first."""
    names = [
        plain(lang, ROLE_KEYS[role])
        for role in (Role.ADMIN, Role.HEAD, Role.MEMBER, Role.WORKER)
        if role in actor.roles
    ]
    return plain(lang, "roles_separator").join(names)


def help_text(lang: str, actor: Actor) -> Html:
    """/help in a private chat: what this person's roles let them do."""
    parts = [text(lang, "help_intro")]
    for role, key in (
        (Role.WORKER, "help_worker"),
        (Role.MEMBER, "help_member"),
        (Role.HEAD, "help_head"),
        (Role.ADMIN, "help_admin"),
    ):
        if role in actor.roles:
            parts.append(text(lang, key))
    # closures that say why, and 附议
    for roles, key in (
        ({Role.WORKER}, "help_closures_worker"),
        ({Role.MEMBER, Role.HEAD}, "help_closures_member"),
        ({Role.HEAD, Role.ADMIN}, "help_closures_approver"),
    ):
        if roles & actor.roles:
            parts.append(text(lang, key))
    parts.append(text(lang, "help_common"))
    return Html("\n\n".join(parts))
