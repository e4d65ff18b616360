"""Translation: `text(lang, key, **values)` looks a message up in its catalogue and fills it.

Messages are HTML (the bot's parse mode). Every value is escaped unless it is already
`Html` (a fragment this module produced), so user text can never turn into markup.
"""

from __future__ import annotations

import html
import re
from typing import Final

from bot.locale import en, zh

DEFAULT_LANGUAGE: Final = "zh"
CATALOGUES: Final[dict[str, dict[str, str]]] = {"zh": zh.MESSAGES, "en": en.MESSAGES}
LANGUAGES: Final = tuple(CATALOGUES)


class Html(str):
    """Text that is already safe HTML."""

    __slots__ = ()


def escape(value: object) -> Html:
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=False))


def normalise_language(lang: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    if lang and lang.split("-")[0].lower() in CATALOGUES:
        return lang.split("-")[0].lower()
    return default


def text(lang: str, key: str, **values: object) -> Html:
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANGUAGE])
    template = catalogue.get(key) or CATALOGUES[DEFAULT_LANGUAGE][key]
    return Html(template.format(**{name: escape(v) for name, v in values.items()}))


def plain(lang: str, key: str, **values: object) -> str:
    """A message for places without markup (button labels, callback answers)."""
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANGUAGE])
    template = catalogue.get(key) or CATALOGUES[DEFAULT_LANGUAGE][key]
    return template.format(**{name: str(v) for name, v in values.items()})


def strip_markup(body: Html) -> str:
    """The plain text of a catalogue message (for terminals and files)."""
    return html.unescape(re.sub(r"</?(?:b|i|u|s|code|pre)>", "", body))
