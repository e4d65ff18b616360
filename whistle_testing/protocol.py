"""The loopback Bot API server: the part of the Telegram Bot API that Whistle uses, over
real HTTP on 127.0.0.1.

It implements getMe, getUpdates with real long polling, sendMessage, sendPhoto,
sendMediaGroup, sendLocation, sendVenue, sendDocument, editMessageText,
editMessageCaption, editMessageReplyMarkup, answerCallbackQuery, setMyCommands, getFile, …
with Telegram's JSON shapes and error answers, so the real python-telegram-bot
`Application` runs against it unchanged. Failures to inject come from `faults`; the people
who talk to the bot are `users.SimulatedUser`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bot.bot_api import Method
from bot.message_limits import CAPTION_LIMIT, TEXT_LIMIT, telegram_length
from whistle_testing.users import SentMessage, SimulatedUser, unix_time

if TYPE_CHECKING:
    from whistle_testing.faults import Fault

BOT_ID = 7000000001
MAX_TEXT = TEXT_LIMIT
MAX_CAPTION = CAPTION_LIMIT
ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    }
)


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class _TelegramHtml(HTMLParser):
    """Checks HTML the way Telegram does and keeps the plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            raise ApiError(400, 'Bad Request: can\'t parse entities: Unsupported start tag "br"')
        if tag not in ALLOWED_TAGS:
            raise ApiError(
                400, f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"'
            )
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise ApiError(400, f'Bad Request: can\'t parse entities: Unexpected end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(source: str, parse_mode: str | None) -> str:
    if (parse_mode or "").upper() != "HTML":
        return source
    parser = _TelegramHtml()
    parser.feed(source)
    parser.close()
    if parser.stack:
        raise ApiError(400, "Bad Request: can't parse entities: unclosed tag")
    return "".join(parser.parts)


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    status: int
    chat_id: int | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Webhook:
    """The webhook set with setWebhook, and how delivering to it went."""

    url: str
    secret: str | None
    delivered: int = 0
    refused: int = 0
    """Attempts the webhook did not answer with 200 (a wrong secret: 403)."""
    last_error: str = ""
    last_error_date: int = 0


class LoopbackBotApi:
    """The server: its chats, the updates waiting for the bot, and the log of calls."""

    def __init__(
        self,
        token: str = "1000001:LOOPBACK-TOKEN",
        username: str = "whistle_bot",
        faults: Callable[[str, dict[str, Any]], Fault | None] | None = None,
        latency: float = 0.0,
    ) -> None:
        self.token = token
        self.latency = latency
        """Seconds every call takes from the bot's request to its answer, half each way: the
        network between a bot and Telegram (tens to hundreds of milliseconds in production,
        nothing on loopback). An update posted to a webhook takes half of it too."""
        self.username = username
        self.faults = faults
        self.port = 0
        self.calls: list[ApiCall] = []
        self.messages: list[SentMessage] = []
        self._by_chat: dict[int, list[SentMessage]] = {}
        self._by_id: dict[tuple[int, int], SentMessage] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.blocked: set[int] = set()
        """Users who blocked the bot: 403 "bot was blocked by the user"."""
        self.never_started: set[int] = set()
        """Users who never opened a chat with the bot: 403 "bot can't initiate conversation
        with a user"."""
        self.never_seen: set[int] = set()
        """Users Telegram does not know for this bot: 400 "chat not found". A message from
        a user to the bot takes them out of all three sets (they opened the chat)."""
        self.files: dict[str, bytes] = {}
        self.observers: list[Callable[[str, SentMessage | ApiCall], None]] = []
        self._users: dict[int, SimulatedUser] = {}
        self._groups: dict[int, str] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._made_at: dict[int, float] = {}
        """When each update waiting for the bot was made (a webhook gets it half the
        latency later)."""
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._chat_changed: dict[int, asyncio.Condition] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.webhook: Webhook | None = None
        """Where updates are posted instead of waiting for getUpdates (setWebhook)."""
        self._webhook_task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.*}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        self._closing = True
        await self._stop_webhook_delivery()
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- people and chats --------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str,
        language_code: str = "zh-hans",
        username: str | None = None,
    ) -> SimulatedUser:
        if user_id not in self._users:
            self._users[user_id] = SimulatedUser(self, user_id, first_name, language_code, username)
        return self._users[user_id]

    def group(self, chat_id: int, title: str) -> int:
        self._groups[chat_id] = title
        return chat_id

    def chat_json(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self._groups:
            return {"id": chat_id, "type": "supergroup", "title": self._groups[chat_id]}
        user = self._users.get(chat_id)
        if user is None:
            raise ApiError(400, "Bad Request: chat not found")
        return {"id": chat_id, "type": "private", "first_name": user.first_name}

    def bot_json(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Whistle",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def new_file(self, data: bytes = b"") -> dict[str, Any]:
        number = next(self._file_ids)
        file_id = f"AgACAgUAAxkBAAI{number:08d}"
        self.files[file_id] = data or f"photo-{number}".encode()
        return {
            "file_id": file_id,
            "file_unique_id": f"AQAD{number:08d}",
            "file_size": len(self.files[file_id]),
        }

    def chat(self, chat_id: int) -> list[SentMessage]:
        return list(self._by_chat.get(chat_id, ()))

    def _keep(self, message: SentMessage) -> None:
        self.messages.append(message)
        self._by_chat.setdefault(message.chat_id, []).append(message)
        self._by_id[(message.chat_id, message.message_id)] = message

    def forget(self, chat_id: int) -> None:
        """Drop the messages a chat holds, for benchmarks that run for hours (a person's
        marks taken before are void). Messages are still counted by the observers."""
        for message in self._by_chat.pop(chat_id, []):
            self._by_id.pop((message.chat_id, message.message_id), None)

    def forget_log(self) -> None:
        """Drop the log of calls, the list of all messages and the answered taps."""
        self.calls.clear()
        self.messages.clear()
        self.callback_answers = {k: v for k, v in self.callback_answers.items() if not v}

    def find(self, chat_id: int, message_id: int) -> SentMessage:
        message = self._by_id.get((chat_id, message_id))
        if message is not None:
            return message
        raise ApiError(400, "Bad Request: message to edit not found")

    async def push_update(self, update: dict[str, Any]) -> None:
        update["update_id"] = next(self._update_ids)
        self._made_at[update["update_id"]] = time.monotonic()
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until `predicate()` returns something truthy (bounded by `timeout`)."""

        async def _wait() -> Any:
            async with self._changed:
                while True:
                    result = predicate()
                    if result:
                        return result
                    await self._changed.wait()

        return await asyncio.wait_for(_wait(), timeout)

    async def expect(
        self,
        chat_id: int,
        contains: str,
        after: int = 0,
        timeout: float = 10.0,
        button: str | None = None,
    ) -> SentMessage:
        """The first bot message in a chat, from its `after`-th on, containing `contains`
        (and, if given, showing a button whose label contains `button`)."""

        def found() -> SentMessage | None:
            sent = [m for m in self.chat(chat_id) if m.from_bot]
            for message in sent[after:]:
                if contains in message.text and (
                    button is None or any(button in label for label, _ in message.buttons())
                ):
                    return message
            return None

        condition = self._chat_condition(chat_id)

        async def _wait() -> SentMessage:
            async with condition:
                while True:
                    message = found()
                    if message is not None:
                        return message
                    await condition.wait()

        try:
            result: SentMessage = await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            seen = [m.text[:80] for m in self.chat(chat_id) if m.from_bot][after:]
            raise AssertionError(f"chat {chat_id} never got {contains!r}; got {seen}") from None
        return result

    def pending_updates(self) -> int:
        return len(self._updates)

    # --- HTTP ---------------------------------------------------------------------------

    async def _download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        data = self.files.get(path.rsplit("/", 1)[-1])
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    params[key] = ("upload", value.file.read(), value.filename)
                else:
                    params[key] = value
        for key, value in list(params.items()):
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(json.JSONDecodeError):
                    params[key] = json.loads(value)
        return params

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one Bot API call; whoever waits on the server's state is woken after it.
        With `latency`, the call takes half of it to reach the server (what it does is
        seen only then) and its answer the other half to reach the bot."""
        try:
            if self.latency:
                await asyncio.sleep(self.latency / 2)
            response = await self._respond(request)
        finally:
            await self._notify()
        if self.latency:
            await asyncio.sleep(self.latency / 2)
        return response

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = await self._params(request)
        try:
            chat_id = int_or_none(params.get("chat_id"))
        except ApiError:
            chat_id = None
        fault = self.faults(method, params) if self.faults else None
        if fault is not None:
            injected = await self._inject(request, method, params, chat_id, fault)
            if injected is not None:
                return injected
        handler = getattr(self, f"_api_{method}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            if chat_id is not None and chat_id in self.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if chat_id is not None and chat_id in self.never_started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            if chat_id is not None and chat_id in self.never_seen:
                raise ApiError(400, "Bad Request: chat not found")
            result = await handler(params)
        except ApiError as exc:
            self._record(ApiCall(method, params, exc.status, chat_id))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.status,
                "description": exc.description,
            }
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.status)
        if method != Method.GET_UPDATES:
            self._record(ApiCall(method, params, 200, chat_id))
        return web.json_response({"ok": True, "result": result})

    async def _inject(
        self,
        request: web.Request,
        method: str,
        params: dict[str, Any],
        chat_id: int | None,
        fault: Fault,
    ) -> web.StreamResponse | None:
        """The failed answer a fault stands for (None: the call is answered normally)."""
        if fault.drop:
            assert request.transport is not None
            request.transport.close()
            self._record(ApiCall(method, params, 0, chat_id))
            return web.Response(status=500)
        if fault.delay:
            await asyncio.sleep(fault.delay)
            self._record(ApiCall(method, params, 504, chat_id))
            return web.json_response(
                {"ok": False, "error_code": 504, "description": "Gateway Timeout"}, status=504
            )
        if fault.status == 429:
            self._record(ApiCall(method, params, 429, chat_id))
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {fault.retry_after}",
                    "parameters": {"retry_after": fault.retry_after},
                },
                status=429,
            )
        if fault.status >= 500:
            self._record(ApiCall(method, params, fault.status, chat_id))
            return web.json_response(
                {
                    "ok": False,
                    "error_code": fault.status,
                    "description": "Internal Server Error",
                },
                status=fault.status,
            )
        return None

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        for observer in self.observers:
            observer("call", call)

    def _chat_condition(self, chat_id: int) -> asyncio.Condition:
        condition = self._chat_changed.get(chat_id)
        if condition is None:
            condition = self._chat_changed[chat_id] = asyncio.Condition()
        return condition

    async def _notify(self, chat_id: int | None = None) -> None:
        """Wake whoever waits on this chat (expect) and on anything (wait_for)."""
        if chat_id is not None:
            condition = self._chat_condition(chat_id)
            async with condition:
                condition.notify_all()
        async with self._changed:
            self._changed.notify_all()

    # --- webhook delivery ----------------------------------------------------------------
    # After setWebhook, updates are POSTed to the webhook's URL one at a time, in order,
    # with the secret token in X-Telegram-Bot-Api-Secret-Token, as Telegram does; an
    # update is dropped from the queue once the webhook answers 200, and retried otherwise.

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self._api_deleteWebhook(params)
        secret = params.get("secret_token")
        await self._stop_webhook_delivery()
        self.webhook = Webhook(url, None if secret is None else str(secret))
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self._updates.clear()
        self._webhook_task = asyncio.create_task(self._deliver_to_webhook(self.webhook))
        return True

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        hook = self.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if hook is not None and hook.last_error:
            info["last_error_message"] = hook.last_error
            info["last_error_date"] = hook.last_error_date
        return info

    async def _stop_webhook_delivery(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver_to_webhook(self, hook: Webhook) -> None:
        headers = {"Content-Type": "application/json"}
        if hook.secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret
        async with aiohttp.ClientSession() as session:
            while not self._closing:
                async with self._changed:
                    await self._changed.wait_for(lambda: bool(self._updates) or self._closing)
                    if self._closing:
                        return
                    update = self._updates[0]
                try:
                    made = self._made_at.get(update["update_id"], time.monotonic())
                    # Half the latency after it was made, however many came just before.
                    arrives = made + self.latency / 2 - time.monotonic()
                    if arrives > 0:
                        await asyncio.sleep(arrives)
                    async with session.post(
                        hook.url, data=json.dumps(update), headers=headers
                    ) as answer:
                        status = answer.status
                except aiohttp.ClientError as error:
                    status, hook.last_error = 0, str(error)
                if status == 200:
                    hook.delivered += 1
                    self._made_at.pop(update["update_id"], None)
                    async with self._changed:
                        if self._updates and self._updates[0] is update:
                            self._updates.pop(0)
                        self._changed.notify_all()
                    continue
                if status:
                    hook.last_error = f"Wrong response from the webhook: {status}"
                hook.refused += 1
                hook.last_error_date = unix_time()
                async with self._changed:
                    self._changed.notify_all()
                await asyncio.sleep(0.05)

    # --- Bot API methods -----------------------------------------------------------------

    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot_json()

    async def _api_logOut(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        await self._stop_webhook_delivery()
        self.webhook = None
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = min(int(params.get("limit") or 100), 100)
        timeout = float(params.get("timeout") or 0)
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

        def ready() -> list[dict[str, Any]]:
            return [u for u in self._updates if u["update_id"] >= offset][:limit]

        async with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            for confirmed in [n for n in self._made_at if n < offset]:
                del self._made_at[confirmed]
            if not ready() and timeout > 0 and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(ready()) or self._closing), timeout
                    )
            return ready()

    async def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        scope = params.get("scope") or {"type": "default"}
        key = json.dumps([scope, params.get("language_code") or ""], sort_keys=True)
        commands = params.get("commands") or []
        for command in commands:
            if not (1 <= len(command.get("command", "")) <= 32) or not command.get("description"):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[key] = commands
        return True

    async def _api_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        scope = params.get("scope") or {"type": "default"}
        self.commands.pop(
            json.dumps([scope, params.get("language_code") or ""], sort_keys=True), None
        )
        return True

    async def _api_getMyCommands(self, params: dict[str, Any]) -> Any:
        scope = params.get("scope") or {"type": "default"}
        return self.commands.get(
            json.dumps([scope, params.get("language_code") or ""], sort_keys=True), []
        )

    async def _api_setChatMenuButton(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_sendChatAction(self, params: dict[str, Any]) -> Any:
        self.chat_json(_int(params, "chat_id"))
        return True

    def _markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
                data = button.get("callback_data")
                if data is not None and not (1 <= len(data.encode()) <= 64):
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    async def _store(
        self,
        chat_id: int,
        kind: str,
        text: str,
        markup: dict[str, Any] | None,
        extra: dict[str, Any],
    ) -> SentMessage:
        chat = self.chat_json(chat_id)
        message_id = self.next_message_id(chat_id)
        raw = {
            "message_id": message_id,
            "from": self.bot_json(),
            "chat": chat,
            "date": unix_time(),
            **extra,
        }
        if markup is not None:
            raw["reply_markup"] = markup
        message = SentMessage(chat_id, message_id, kind, text, True, markup, raw)
        self._keep(message)
        for observer in self.observers:
            observer("message", message)
        await self._notify(chat_id)
        return message

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = _int(params, "chat_id")
        source = str(params.get("text") or "")
        text = plain_text(source, params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if telegram_length(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        message = await self._store(chat_id, "text", text, self._markup(params), {"text": text})
        return message.raw

    def _caption(self, params: dict[str, Any]) -> str:
        caption = plain_text(str(params.get("caption") or ""), params.get("parse_mode"))
        if telegram_length(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        return caption

    def _photo(self, value: Any, uploads: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(value, tuple):
            info = self.new_file(value[1])
        elif isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
            if not isinstance(upload, tuple):
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            info = self.new_file(upload[1])
        elif isinstance(value, str) and value in self.files:
            info = {
                "file_id": value,
                "file_unique_id": "AQAD" + value[-8:],
                "file_size": len(self.files[value]),
            }
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return [{**info, "width": 1280, "height": 960}]

    async def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        chat_id = _int(params, "chat_id")
        caption = self._caption(params)
        sizes = self._photo(params.get("photo"), params)
        message = await self._store(
            chat_id, "photo", caption, self._markup(params), {"photo": sizes, "caption": caption}
        )
        return message.raw

    async def _api_sendMediaGroup(self, params: dict[str, Any]) -> Any:
        chat_id = _int(params, "chat_id")
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media (2-10)")
        results = []
        group_id = str(next(self._file_ids))
        for item in media:
            sizes = self._photo(item.get("media"), params)
            caption = self._caption(item)
            message = await self._store(
                chat_id,
                "photo",
                caption,
                None,
                {"photo": sizes, "caption": caption, "media_group_id": group_id},
            )
            results.append(message.raw)
        return results

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:
        chat_id = _int(params, "chat_id")
        document = params.get("document")
        if not isinstance(document, tuple):
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        info = self.new_file(document[1])
        caption = self._caption(params)
        message = await self._store(
            chat_id,
            "document",
            caption,
            self._markup(params),
            {"document": {**info, "file_name": document[2] or "file"}, "caption": caption},
        )
        return message.raw

    async def _api_sendLocation(self, params: dict[str, Any]) -> Any:
        chat_id = _int(params, "chat_id")
        location = _location(params)
        message = await self._store(
            chat_id, "location", "", self._markup(params), {"location": location}
        )
        return message.raw

    async def _api_sendVenue(self, params: dict[str, Any]) -> Any:
        chat_id = _int(params, "chat_id")
        location = _location(params)
        title, address = str(params.get("title") or ""), str(params.get("address") or "")
        if not title or not address:
            raise ApiError(400, "Bad Request: venue title and address are required")
        message = await self._store(
            chat_id,
            "venue",
            f"{title} {address}",
            self._markup(params),
            {
                "venue": {"location": location, "title": title, "address": address},
                "location": location,
            },
        )
        return message.raw

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        message = self.find(_int(params, "chat_id"), _int(params, "message_id"))
        if message.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = plain_text(str(params.get("text") or ""), params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if telegram_length(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return await self._edit_content(message, text, self._markup(params))

    async def _api_editMessageCaption(self, params: dict[str, Any]) -> Any:
        message = self.find(_int(params, "chat_id"), _int(params, "message_id"))
        if message.kind not in ("photo", "document"):
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        return await self._edit_content(message, self._caption(params), self._markup(params))

    async def _edit_content(
        self, message: SentMessage, text: str, markup: dict[str, Any] | None
    ) -> Any:
        if message.text == text and (message.reply_markup or None) == (markup or None):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same as a current "
                "content and reply markup of the message",
            )
        return await self._edit(message, text, markup)

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        message = self.find(_int(params, "chat_id"), _int(params, "message_id"))
        markup = self._markup(params)
        if (message.reply_markup or None) == (markup or None):
            raise ApiError(400, "Bad Request: message is not modified")
        return await self._edit(message, message.text, markup)

    async def _edit(self, message: SentMessage, text: str, markup: dict[str, Any] | None) -> Any:
        message.text = text
        message.reply_markup = markup if markup and markup.get("inline_keyboard") else None
        message.edits += 1
        content = "text" if message.kind == "text" else "caption"
        message.raw = {**message.raw, content: text, "edit_date": unix_time()}
        if message.reply_markup is None:
            message.raw.pop("reply_markup", None)
        else:
            message.raw["reply_markup"] = message.reply_markup
        for observer in self.observers:
            observer("edit", message)
        await self._notify(message.chat_id)
        return message.raw

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self.callback_answers:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        if self.callback_answers[query_id]:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.callback_answers[query_id] = {
            "answered": True,
            "text": params.get("text"),
            "show_alert": params.get("show_alert"),
        }
        await self._notify()
        return True

    async def _api_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": "AQAD" + file_id[-8:],
            "file_size": len(self.files[file_id]),
            "file_path": f"photos/{file_id}",
        }


def _int(params: dict[str, Any], name: str) -> int:
    value = int_or_none(params.get(name))
    if value is None:
        raise ApiError(400, f"Bad Request: parameter {name} is required")
    return value


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        raise ApiError(400, "Bad Request: chat not found") from None


def _location(params: dict[str, Any]) -> dict[str, float]:
    try:
        latitude, longitude = float(params["latitude"]), float(params["longitude"])
    except (KeyError, TypeError, ValueError):
        raise ApiError(400, "Bad Request: wrong latitude or longitude") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ApiError(400, "Bad Request: wrong latitude or longitude")
    return {"latitude": latitude, "longitude": longitude}
