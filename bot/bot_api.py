"""The Telegram Bot API methods the bot calls through its outbox, each named once: the
outbox stores the name with each message, the sender dispatches on it, the length limits
and the metrics read it, and the loopback server in whistle_testing/ answers to it."""

from __future__ import annotations

from typing import Final


class Method:
    """Bot API method names, as the API spells them (a namespace, not an enum: the outbox
    stores and compares plain strings)."""

    SEND_MESSAGE: Final = "sendMessage"
    SEND_PHOTO: Final = "sendPhoto"
    SEND_MEDIA_GROUP: Final = "sendMediaGroup"
    SEND_DOCUMENT: Final = "sendDocument"
    SEND_LOCATION: Final = "sendLocation"
    SEND_VENUE: Final = "sendVenue"
    EDIT_MESSAGE_TEXT: Final = "editMessageText"
    EDIT_MESSAGE_CAPTION: Final = "editMessageCaption"
    EDIT_MESSAGE_REPLY_MARKUP: Final = "editMessageReplyMarkup"
    ANSWER_CALLBACK_QUERY: Final = "answerCallbackQuery"
    GET_UPDATES: Final = "getUpdates"
