"""The running bot: the database, the services, the python-telegram-bot Application with
its handlers, and the outbox sender, started and stopped together. Everything is wired
here and nowhere else."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from telegram import Bot, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    JobQueue,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot import http_endpoints
from bot.clock import Clock, SystemClock, to_epoch
from bot.i18n import text
from bot.instance import CannotStart, InstanceLock
from bot.metrics import MeteredRequest, Metrics, health_problem
from bot.organisation import OrganisationInvalid
from bot.persistence import DraftPersistence
from bot.sender import OutboxSender
from bot.services import Refused, Services, build_services
from bot.services.organisation import OrganisationMissing
from bot.settings import Settings, host_and_port
from bot.transport import (
    CALL_CONNECTIONS,
    AiohttpRequest,
    BacklogGatedPolling,
    backlog_of,
)
from bot.updates import PerPersonOrder
from bot.whistle_views import WHISTLE_BUTTON_PATTERN
from handlers import (
    actions,
    admin,
    closures,
    extensions,
    lookup,
    people,
    prompts,
    report,
    whistles,
)
from handlers.common import Context, refuse, reply, services
from storage.db import Database
from storage.install import keep_install_value

log = logging.getLogger(__name__)


class ConfigurationError(CannotStart):
    """The settings contradict each other; the message says how to fix them."""


DEADLINE_SWEEP_SECONDS = 30.0
# Handler groups, in the order they see an update: what a group chat may use (only card
# buttons and /help), the guard, then the observer that ends a pending prompt when the
# person starts something else, then each feature's prompt answers — the note
# conversation, the closure reason, the whistle's location — each in a group of its own
# (in one group only the first matching handler runs; what a feature takes it stops, the
# rest goes on), then everything else (group 0).
CHAT_GROUP, GUARD_GROUP, PROMPT_GROUP, NOTE_GROUP, CLOSURE_GROUP, WHISTLE_GROUP = (
    -6,
    -5,
    -4,
    -3,
    -2,
    -1,
)
COUNT_GROUP = -7
"""Before everything: counts each update for /metrics."""
WEBHOOK_SECRET = "webhook_secret_token"
"""The name the webhook's secret token is kept under in the database."""
START_RETRY_SECONDS = (1, 2, 5, 10, 30, 60)
"""Pauses between attempts to reach the Bot API at start; the last one repeats."""


_REDACTED: set[str] = set()
_INVITE_CODE = re.compile(r"(/start(?:@\w+)?[ \t]+|[?&]start=|<code>)[^\s<>'\"\\]{1,64}")
"""An invite code as the bot shows it (`<code>CODE</code>`, `/start CODE`) and as people
send it (`/start CODE`, a t.me link's `start=CODE`): python-telegram-bot's DEBUG lines
carry every sendMessage text and every update."""


_CODES: dict[str, None] = {}
"""Invite codes this bot made (the newest KEPT_CODES), also kept out of the logs where they
stand alone (python-telegram-bot logs the text of what it sent without the markup)."""
KEPT_CODES = 10_000


def redact_invite_code(code: str) -> None:
    _CODES[code] = None
    if len(_CODES) > KEPT_CODES:
        del _CODES[next(iter(_CODES))]


def _cleaned(text: str) -> str:
    """`text` without the registered secrets and without invite codes."""
    for token in _REDACTED:
        text = text.replace(token, "<token>")
    text = _INVITE_CODE.sub(r"\1<invite>", text)
    for code in _CODES:
        if code in text:
            text = text.replace(code, "<invite>")
    return text


def redact_in_logs(secret: str) -> None:
    """Keep `secret` (the bot token) and every invite code out of every log record, at
    every level and in every handler: httpx logs request URLs, and Bot API URLs contain
    the token; python-telegram-bot logs the texts it sends and receives at DEBUG. Records
    are cleaned when they are made, before any handler or formatter sees them."""
    if not secret or secret in _REDACTED:
        return
    if not _REDACTED:
        make_record = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            message = record.getMessage()
            cleaned = _cleaned(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and record.exc_info[1] is not None:
                text = "".join(traceback.format_exception(*record.exc_info))
                cleaned = _cleaned(text)
                if cleaned != text:
                    record.exc_info, record.exc_text = None, cleaned
            return record

        logging.setLogRecordFactory(redacting_factory)
    _REDACTED.add(secret)


def redact(message: str) -> str:
    """`message` with every secret given to redact_in_logs replaced, for text that is
    printed rather than logged (the command line's one-line errors)."""
    for token in _REDACTED:
        message = message.replace(token, "<token>")
    return message


def _errors_dropped(record: logging.LogRecord) -> bool:
    return record.levelno < logging.ERROR


async def _stray_button(update: Update, context: Context) -> None:
    await refuse(update, context, Refused("ans_bad_button"))


async def _unknown(update: Update, context: Context) -> None:
    lang = await services(context).people.language(
        update.effective_user.id if update.effective_user else 0
    )
    await reply(update, text(lang, "unknown_input"))


async def _log_error(update: object, context: Context) -> None:
    """A reply that could not be delivered because the person blocked the bot or the chat
    is gone is part of normal use (WARNING, one line); anything else is a bug (ERROR)."""
    error = context.error
    if isinstance(error, Forbidden) or (
        isinstance(error, BadRequest) and "chat not found" in error.message.lower()
    ):
        log.warning("a reply could not be delivered: %s", error)
        return
    log.error("error while handling an update", exc_info=error)


def request_objects(settings: Settings) -> tuple[BaseRequest, BaseRequest]:
    """The request objects for Bot API calls and for `getUpdates`, both through
    `WHISTLE_PROXY` when it is set. httpx reaches http, https and socks5 proxies (socks
    through its `socks` extra); the aiohttp client only http and https ones."""
    proxy = settings.proxy_url()
    if settings.bot_api_client == "aiohttp":
        if proxy is not None and not proxy.startswith(("http://", "https://")):
            raise ConfigurationError(
                "WHISTLE_BOT_API_CLIENT=aiohttp reaches only http:// and https:// proxies; "
                "use WHISTLE_BOT_API_CLIENT=httpx for a socks5:// WHISTLE_PROXY"
            )

        def client(**timeouts: Any) -> BaseRequest:
            return AiohttpRequest(proxy=proxy, **timeouts)
    else:

        def client(**timeouts: Any) -> BaseRequest:
            return HTTPXRequest(proxy=proxy, **timeouts)

    calls = client(
        connection_pool_size=CALL_CONNECTIONS,
        read_timeout=15,
        write_timeout=15,
        connect_timeout=5,
        pool_timeout=10,
    )
    polling = client(
        connection_pool_size=1,
        read_timeout=settings.poll_timeout_seconds + 10,
        write_timeout=5,
        connect_timeout=5,
        pool_timeout=1,
    )
    return calls, polling


def build_application(
    settings: Settings,
    svc: Services,
    requests: tuple[BaseRequest, BaseRequest] | None = None,
) -> Application:  # type: ignore[type-arg]
    request, polling = requests or request_objects(settings)
    polling_request = BacklogGatedPolling(polling)
    builder = (
        ApplicationBuilder()
        .token(settings.token())
        .base_url(settings.telegram_api_url)
        .request(request)
        .get_updates_request(polling_request)
        .persistence(
            DraftPersistence(
                svc.db,
                svc.reports,
                report.REPORT_CONVERSATION,
                timedelta(minutes=settings.prompt_minutes),
            )
        )
        .concurrent_updates(PerPersonOrder(settings.concurrent_updates))
    )
    if settings.telegram_file_url:
        builder = builder.base_file_url(settings.telegram_file_url)
    application = builder.build()
    polling_request.backlog = backlog_of(application)
    application.bot_data["services"] = svc
    _add_gates(application, settings.prompt_minutes)
    _add_commands(application, settings.prompt_minutes)
    return application


def _add_gates(application: Application, prompt_minutes: int) -> None:  # type: ignore[type-arg]
    """The handlers that see an update before the commands do, each in its own group: the
    chat's and the person's checks, the prompts a person is answering."""
    application.add_handler(TypeHandler(Update, people.keep_to_private), group=CHAT_GROUP)
    application.add_handler(TypeHandler(Update, people.guard), group=GUARD_GROUP)
    application.add_handler(TypeHandler(Update, prompts.observe), group=PROMPT_GROUP)
    application.add_handler(actions.note_conversation(prompt_minutes), group=NOTE_GROUP)
    application.add_handler(closures.answer_handler(), group=CLOSURE_GROUP)
    # 联合吹哨: the place or location a whistle prompt waits for (else the update goes on)
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND,
            whistles.whistle_input,
        ),
        group=WHISTLE_GROUP,
    )
    application.add_handler(CommandHandler("cancel", whistles.whistle_cancel), group=WHISTLE_GROUP)


def _add_commands(application: Application, prompt_minutes: int) -> None:  # type: ignore[type-arg]
    """The commands, buttons and conversations, in the order they are tried; what none of
    them takes is answered as a stray button or an unknown message."""
    application.add_handler(CommandHandler("whistle", whistles.whistle_command))
    application.add_handler(
        CallbackQueryHandler(whistles.whistle_button, pattern=WHISTLE_BUTTON_PATTERN)
    )
    application.add_handler(CommandHandler("start", people.start))
    # extensions and 挂账
    application.add_handler(extensions.extension_conversation(prompt_minutes))
    application.add_handler(report.report_conversation())
    application.add_handler(actions.action_handler())
    for handler in closures.button_handlers():
        application.add_handler(handler)
    application.add_handler(CommandHandler("help", people.help_command))
    application.add_handler(CommandHandler("id", people.show_id))
    application.add_handler(CommandHandler("lang", people.choose_language))
    application.add_handler(CallbackQueryHandler(people.set_language, pattern=r"^lang:"))
    application.add_handler(CommandHandler("my", lookup.my_reports))
    application.add_handler(CommandHandler("todo", lookup.to_do))
    application.add_handler(CommandHandler("issue", lookup.show_issue))
    application.add_handler(CommandHandler("stats", lookup.statistics))
    application.add_handler(CommandHandler("invite", admin.invite))
    application.add_handler(CommandHandler("reroute", admin.reroute))
    application.add_handler(CommandHandler("pending", admin.pending))
    application.add_handler(CommandHandler("revoke", admin.revoke))
    application.add_handler(CommandHandler("cancel", report.cancel))
    for handler in extensions.decision_handlers():
        application.add_handler(handler)
    application.add_handler(CallbackQueryHandler(_stray_button))
    application.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE, _unknown)
    )
    application.add_error_handler(_log_error)


class Whistle:
    """One running Whistle: `async with Whistle(settings) as whistle: ...`."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.database)
        self.lock = InstanceLock(settings.database)
        self.services = build_services(settings, self.clock, self.db)
        # The running bot shows times in one zone: an import in another is refused.
        self.services.organisations.zone = self.services.zone.key
        self.services.people.on_invite = redact_invite_code
        self.application: Application | None = None  # type: ignore[type-arg]
        self.sender: OutboxSender | None = None
        self.metrics = Metrics()
        self._requests: tuple[BaseRequest, ...] = ()
        self._endpoints: http_endpoints.EndpointServer | None = None
        self._statistics_runs: set[asyncio.Task[int]] = set()

    async def start(self, *, poll: bool = True) -> None:
        """Start everything, or raise CannotStart (AlreadyRunning, DatabaseUnavailable)
        naming the cause: the token is refused, the Bot API is out of reach, another bot
        holds the database, the organisation file is invalid."""
        settings = self.settings
        if settings.telegram_token is None:
            raise ConfigurationError("WHISTLE_TELEGRAM_TOKEN is not set")
        redact_in_logs(settings.token())
        self.lock.acquire()
        await self.db.open()
        if settings.org_file is not None:
            await self._import_org_file(Path(settings.org_file))
        await self.services.people.sync_settings_admins(settings.admin_ids)
        await self._check_time_zone()
        calls, polling = self._requests = request_objects(settings)
        self.application = build_application(
            settings,
            self.services,
            (self._metered(calls), self._metered(polling)),
        )
        self.application.add_handler(TypeHandler(Update, self._count_update), group=COUNT_GROUP)
        await self._meet_the_bot_api(self.application)
        self.sender = self._outbox_sender(self.application.bot)
        await self.application.start()
        self.sender.start()
        job_queue = self.application.job_queue
        assert job_queue is not None
        self._schedule_jobs(job_queue)
        if poll:
            await self._receive_updates()
        if settings.http_listen is not None and not self._endpoints_on_webhook():
            self._endpoints = http_endpoints.EndpointServer(self.health, self.metrics_text)
            self._endpoints.start(*host_and_port(settings.http_listen))

    def _outbox_sender(self, bot: Bot) -> OutboxSender:
        """The sender of the outbox, woken by every service that queues a message."""
        settings = self.settings
        sender = OutboxSender(
            self.db,
            bot,
            self.clock,
            overall_per_second=settings.send_rate_overall,
            private_per_second=settings.send_rate_private_chat,
            group_per_minute=settings.send_rate_group_per_minute,
            max_backoff_seconds=settings.send_max_backoff_seconds,
            on_unreachable=self._unreachable,
            on_group_unreachable=self._group_unreachable,
        )
        self.services.context.on_commit = sender.wake
        self.services.people.on_unreachable = self._unreachable
        return sender

    def _schedule_jobs(self, job_queue: JobQueue) -> None:  # type: ignore[type-arg]
        """The deadline sweeps (now, then every DEADLINE_SWEEP_SECONDS) and the weekly
        statistics (at start, to make up a missed one, then daily at the set time)."""
        job_queue.run_once(self._sweep_deadlines, when=0, name="deadline-next")
        if self.settings.weekly_stats:
            job_queue.run_once(self._weekly_statistics, when=1, name="weekly-statistics-start")
            job_queue.run_daily(
                self._weekly_statistics,
                time=self.settings.stats_time.replace(tzinfo=self.services.zone),
                name="weekly-statistics",
            )
        job_queue.run_repeating(
            self._sweep_deadlines,
            interval=DEADLINE_SWEEP_SECONDS,
            first=DEADLINE_SWEEP_SECONDS,
            name="deadlines",
        )

    def _metered(self, request: BaseRequest) -> BaseRequest:
        return MeteredRequest(request, self.metrics, lambda: self.clock.now().timestamp())

    async def _count_update(self, update: Update, context: Context) -> None:
        self.metrics.updates.inc()

    def _endpoints_on_webhook(self) -> bool:
        settings = self.settings
        return settings.webhook_listen is not None and settings.http_listen == (
            settings.webhook_listen
        )

    async def _receive_updates(self) -> None:
        """Long polling (which deletes any webhook first), or the webhook: python-telegram-
        bot's server checks the secret token on every request, and the updates go into the
        same queue and through the same per-person ordering as polled ones."""
        settings = self.settings
        assert self.application is not None and self.application.updater is not None
        updater = self.application.updater
        if settings.webhook_url is None or settings.webhook_listen is None:
            await updater.start_polling(
                poll_interval=0,
                timeout=settings.poll_timeout_seconds,
                allowed_updates=Update.ALL_TYPES,
            )
            return
        host, port = host_and_port(settings.webhook_listen)
        await updater.start_webhook(
            listen=host,
            port=port,
            url_path=urlsplit(settings.webhook_url).path or "/",
            webhook_url=settings.webhook_url,
            secret_token=await self._webhook_secret(),
            allowed_updates=Update.ALL_TYPES,
            bootstrap_retries=-1,
            max_connections=min(100, settings.concurrent_updates),
        )
        if self._endpoints_on_webhook():
            server = updater._httpd._http_server if updater._httpd else None
            app = getattr(server, "request_callback", None)
            assert isinstance(app, tornado.web.Application)
            http_endpoints.add_to(app, self.health, self.metrics_text)

    async def _webhook_secret(self) -> str:
        """The webhook's secret token: made at the first start in webhook mode and kept in
        the database, so a restart (or a second look at the settings) does not change it."""
        async with self.db.write() as conn:
            return await keep_install_value(
                conn, WEBHOOK_SECRET, secrets.token_urlsafe(32), to_epoch(self.clock.now())
            )

    async def health(self) -> str | None:
        """None while updates are received and the outbox drains, else why not (/healthz)."""
        application = self.application
        updater = application.updater if application is not None else None
        return await health_problem(
            self.db,
            self.metrics,
            to_epoch(self.clock.now()),
            polling=self.settings.webhook_url is None,
            poll_timeout=self.settings.poll_timeout_seconds,
            receiving=updater is not None and updater.running,
        )

    async def metrics_text(self) -> bytes:
        return await self.metrics.exposition(self.db, to_epoch(self.clock.now()))

    async def _import_org_file(self, path: Path) -> None:
        try:
            await self.services.organisations.import_file(path)
        except OrganisationInvalid as invalid:
            raise ConfigurationError(
                f"WHISTLE_ORG_FILE {path}: {len(invalid.errors)} error(s), the first: "
                f"{invalid.errors[0]}; see them all with: whistle org check {path}"
            ) from None

    async def _meet_the_bot_api(self, application: Application) -> None:  # type: ignore[type-arg]
        """Initialize the application (its getMe checks the token) and set the default
        command menus. A refusal becomes one line naming the setting to fix (PTB's own
        message for a refused token quotes the token, so the original exception is
        dropped, not chained). An unreachable Bot API is retried with a growing pause, one
        WARNING per attempt, for as long as it takes: a street's network down while the
        bot starts must not stop it for good (SIGTERM still does)."""
        url = redact(self.settings.telegram_api_url)
        # python-telegram-bot also logs an answer that is not JSON (a web server's 404
        # page) with a traceback; the line raised below says it better.
        request_log = logging.getLogger("telegram.request.BaseRequest")
        request_log.addFilter(_errors_dropped)
        attempt = 0
        try:
            while True:
                try:
                    await application.initialize()
                    await people.set_default_menus(application.bot)
                    return
                except InvalidToken as refused:
                    if "Not Found" in str(refused.__cause__ or ""):
                        raise CannotStart(
                            f"the Bot API at {url} answered 404 Not Found: check "
                            "WHISTLE_TELEGRAM_API_URL (it ends in /bot) and "
                            "WHISTLE_TELEGRAM_TOKEN"
                        ) from None
                    raise CannotStart(
                        "the Bot API refused the token (401 Unauthorized): "
                        "check WHISTLE_TELEGRAM_TOKEN"
                    ) from None
                except BadRequest as error:
                    raise CannotStart(
                        f"the Bot API at {url} answered getMe with an error "
                        f"({redact(error.message)}): check WHISTLE_TELEGRAM_API_URL"
                    ) from None
                except NetworkError as error:
                    # The network (or the proxy) is down: wait for it, never give up.
                    pause = START_RETRY_SECONDS[min(attempt, len(START_RETRY_SECONDS) - 1)]
                    attempt += 1
                    log.warning(
                        "cannot reach the Bot API at %s (%s); attempt %d, next in %s s",
                        url,
                        redact(error.message),
                        attempt,
                        pause,
                    )
                    await asyncio.sleep(pause)
                except TelegramError as error:
                    raise CannotStart(
                        f"the Bot API at {url} answered getMe with an error "
                        f"({redact(error.message)}): check WHISTLE_TELEGRAM_API_URL"
                    ) from None
        finally:
            request_log.removeFilter(_errors_dropped)

    async def _check_time_zone(self) -> None:
        """Deadlines and rosters follow the organisation file's time zone; cards and
        statistics show times in the zone the bot runs in (the file's, read at start, or
        WHISTLE_TIMEZONE where set). If they differ every time shown would be off, so the
        bot does not start."""
        try:
            org = await self.services.organisations.current()
        except OrganisationMissing:
            return
        running = self.services.zone.key
        if org.timezone.key != running:
            raise ConfigurationError(
                f"WHISTLE_TIMEZONE is {running} but the organisation file says "
                f"timezone = {org.timezone.key!r}; set both to the same zone, or leave "
                "WHISTLE_TIMEZONE empty (the file's zone is the street's)"
            )

    async def _sweep_deadlines(self, context: Context) -> None:
        """Fire what is due (at start: what fell due while the bot was down), then arm a
        one-off job for the next alert if it comes before the next regular sweep."""
        escalation = self.services.escalation
        try:
            await escalation.sweep()
            await self.services.whistles.sweep()  # 联合吹哨: arrival alerts
            # A crash between recording somebody unreachable and moving their issues on
            # is made good here.
            await self.services.issues.redispatch_unreachable()
        except Exception:
            log.exception("deadline sweep failed; the next one retries")
        upcoming = await escalation.next_due()
        arrival = await self.services.whistles.next_due()
        if arrival is not None and (upcoming is None or arrival < upcoming):
            upcoming = arrival
        if upcoming is None or context.job_queue is None:
            return
        wait = (upcoming - self.clock.now()).total_seconds()
        if wait < DEADLINE_SWEEP_SECONDS:
            for job in context.job_queue.get_jobs_by_name("deadline-next"):
                job.schedule_removal()
            context.job_queue.run_once(
                self._sweep_deadlines, when=max(0.0, wait) + 0.05, name="deadline-next"
            )

    async def _weekly_statistics(self, context: Context) -> None:
        """Every day at the statistics time, and once at start: queue the weekly report if
        it is due and not yet sent (a missed Monday is made up; nobody gets it twice).

        The work runs in a task of its own that `stop()` cancels: drawing the chart can take
        seconds, and a stopping bot must not wait for it. A recipient's report is queued in
        one transaction, so a cancelled run leaves it unqueued for the next start."""
        run = asyncio.create_task(self.services.statistics.push_due())
        self._statistics_runs.add(run)
        try:
            await asyncio.wait({run})
        finally:
            self._statistics_runs.discard(run)
        if run.cancelled():
            log.info("weekly statistics interrupted by the stop; the next start sends them")
        elif run.exception() is not None:
            log.error("weekly statistics failed; the next run retries", exc_info=run.exception())

    async def _unreachable(self, chat_id: int, first_time: bool) -> None:
        """Somebody cannot be reached: what waits for their 报到 goes to somebody who can
        take it, and the admins hear of it once (until the person writes to the bot)."""
        if first_time:
            self.services.people.note_unreachable(chat_id)
        await self.services.issues.redispatch_unreachable(chat_id)
        if first_time:
            await self.services.people.tell_admins_blocked(chat_id)
        if self.sender is not None:
            self.sender.wake()

    async def _group_unreachable(self, chat_id: int, new_chat_id: int | None) -> None:
        """A department's group cannot be written to, or moved to a new id: the admins
        hear of it, naming the department and the id (and the new one)."""
        await self.services.people.tell_admins_group(chat_id, new_chat_id)
        if self.sender is not None:
            self.sender.wake()

    async def stop(self) -> None:
        for run in self._statistics_runs:
            run.cancel()
        if self._endpoints is not None:
            await self._endpoints.stop()
            self._endpoints = None
        application = self.application
        if application is not None:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
        if self.sender is not None:
            await self.sender.stop()
        if application is not None:
            await application.shutdown()
        # A start that never reached the Bot API leaves the application uninitialised,
        # and its shutdown then closes nothing: close the HTTP clients here.
        for request in self._requests:
            await request.shutdown()
        self._requests = ()
        self.application = None
        await self.db.close()
        self.lock.release()

    async def __aenter__(self) -> Whistle:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
