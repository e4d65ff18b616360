"""Telegram's limits on one message, and HTML text made to fit them.

Telegram counts a text's length in UTF-16 code units after the markup is parsed: tags do
not count, an entity such as `&amp;` counts as one. A text over the limit is split over
several messages (at a line break where it can), never inside a tag or an entity, and
every part closes the tags it opened and reopens them in the next part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from bot.bot_api import Method

TEXT_LIMIT: Final = 4096
"""A message's text."""
CAPTION_LIMIT: Final = 1024
"""A photo's or document's caption."""
ELLIPSIS: Final = "…"

_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>|&#?[0-9A-Za-z]+;|[^<&]|[<&]", re.DOTALL)


def telegram_length(value: str) -> int:
    """A text's length as Telegram counts it: in UTF-16 code units."""
    return len(value.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class _Token:
    source: str
    visible: int
    """UTF-16 units it shows (0 for a tag)."""
    opens: str | None = None
    closes: str | None = None


def _tokens(source: str) -> list[_Token]:
    found: list[_Token] = []
    for match in _TOKEN.finditer(source):
        piece = match.group(0)
        if match.group(2) is not None:
            name = match.group(2).lower()
            closing = match.group(1) == "/"
            found.append(_Token(piece, 0, None if closing else name, name if closing else None))
        elif piece.startswith("&") and len(piece) > 1:
            found.append(_Token(piece, 1))
        else:
            found.append(_Token(piece, telegram_length(piece)))
    return found


def _apply(stack: list[_Token], token: _Token) -> None:
    if token.opens is not None:
        stack.append(token)
    elif token.closes is not None:
        for index in range(len(stack) - 1, -1, -1):
            if stack[index].opens == token.closes:
                del stack[index]
                break


def _closing(stack: list[_Token]) -> str:
    return "".join(f"</{tag.opens}>" for tag in reversed(stack))


def split_html(source: str, limit: int = TEXT_LIMIT) -> list[str]:
    """`source` (Telegram HTML) as one or more texts of at most `limit` visible units each;
    of a text that is split, parts that would show nothing but blanks are left out."""
    if telegram_length(source) <= limit:
        return [source]
    tokens = _tokens(source)
    parts: list[str] = []
    start, stack = 0, list[_Token]()
    while start < len(tokens):
        opened = list(stack)
        running = list(stack)
        length, index = 0, start
        newline: tuple[int, list[_Token]] | None = None
        while index < len(tokens) and length + tokens[index].visible <= limit:
            token = tokens[index]
            if token.source == "\n":
                newline = (index, list(running))
            _apply(running, token)
            length += token.visible
            index += 1
        if index == start:
            _apply(running, tokens[index])
            index += 1
        if index < len(tokens) and newline is not None and newline[0] > start:
            end, after = newline[0], newline[1]
            following = end + 1
        else:
            end, after = index, running
            following = index
        body = "".join(t.source for t in tokens[start:end])
        if "".join(t.source for t in tokens[start:end] if t.visible).strip():
            parts.append("".join(t.source for t in opened) + body + _closing(after))
        start, stack = following, after
    return parts


def visible_length(source: str) -> int:
    """The length Telegram counts for `source` (Telegram HTML): UTF-16 units of what it
    shows, tags left out, an entity one unit."""
    return sum(token.visible for token in _tokens(source))


def shorten_plain(value: str, limit: int) -> str:
    """Plain `value` cut to at most `limit` UTF-16 units, ending with "…" if it was cut."""
    if telegram_length(value) <= limit:
        return value
    return _fit_plain(value, max(0, limit - 1))[0] + ELLIPSIS


def shorten_html(source: str, limit: int) -> str:
    """`source` cut to at most `limit` visible units, ending with "…" if it was cut."""
    if sum(token.visible for token in _tokens(source)) <= limit:
        return source
    parts = split_html(source, max(1, limit - 1))
    return (parts[0] if parts else "") + ELLIPSIS


def _fit_plain(value: str, limit: int) -> list[str]:
    parts, current, length = [], "", 0
    for char in value:
        units = telegram_length(char)
        if length + units > limit:
            parts.append(current)
            current, length = "", 0
        current, length = current + char, length + units
    return [*parts, current]


def fit_payload(method: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One Bot API call's parameters made to fit Telegram's limits: a long message becomes
    several (its buttons on the last), a long edit or caption is shortened with "…"."""
    html = str(payload.get("parse_mode") or "").upper() == "HTML"
    if method == Method.SEND_MESSAGE and isinstance(payload.get("text"), str):
        value = payload["text"]
        parts = split_html(value) if html else _fit_plain(value, TEXT_LIMIT)
        if len(parts) <= 1:
            return [payload]
        markup = payload.get("reply_markup")
        fitted = [{**payload, "text": part} for part in parts]
        for part in fitted[:-1]:
            part.pop("reply_markup", None)
        if markup is not None:
            fitted[-1]["reply_markup"] = markup
        return fitted
    if method == Method.EDIT_MESSAGE_TEXT and isinstance(payload.get("text"), str):
        return [{**payload, "text": _shorten(payload["text"], TEXT_LIMIT, html)}]
    if isinstance(payload.get("caption"), str):
        return [{**payload, "caption": _shorten(payload["caption"], CAPTION_LIMIT, html)}]
    if method == Method.SEND_MEDIA_GROUP and isinstance(payload.get("media"), list):
        media = [
            {**item, "caption": _shorten(item["caption"], CAPTION_LIMIT, "parse_mode" in item)}
            if isinstance(item, dict) and isinstance(item.get("caption"), str)
            else item
            for item in payload["media"]
        ]
        return [{**payload, "media": media}]
    return [payload]


def _shorten(value: str, limit: int, html: bool) -> str:
    return shorten_html(value, limit) if html else shorten_plain(value, limit)
