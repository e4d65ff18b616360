"""How the bot talks to the Bot API server: the request objects python-telegram-bot uses.

Profiling the bot under load (bench/load.py) showed the Bot API client, not Whistle's own
work, using most of the CPU (figures in docs/performance.md), and with updates arriving
one by one the poller asked for them one by one — one `getUpdates` per update.
`BacklogGatedPolling` asks for more updates only once the ones already fetched have been
taken up, so under load one call brings a batch; when the bot is idle nothing waits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

BACKLOG_CHECK_SECONDS = 0.002
MAX_BACKLOG_WAIT_SECONDS = 1.0
BUSY_UPDATES = 16
"""Updates in hand above which the bot counts as busy: with a real network most of them
wait for Telegram, so a few in hand is normal and fetching goes on; many means the
bot is short of CPU and another `getUpdates` would only cost more of it."""
CALL_CONNECTIONS = 128
"""Connections for Bot API calls (getUpdates aside). Calls in flight are calls per second
× round trip: a street at 5 reports/s makes about 170 calls a second, 34 in flight over a
200 ms network, and a call waiting for a free connection waits a whole round trip more.
Connections open only as they are needed: on a short round trip a few suffice."""
JSON_HEADERS = {"Content-Type": "application/json"}
DEFAULT_NONE = BaseRequest.DEFAULT_NONE
Timeout = Any
"""A timeout as PTB passes it to `do_request`: seconds, None for none, or
`BaseRequest.DEFAULT_NONE` for the request object's own default. PTB names that type only
in a private module; `_seconds` checks what arrives."""


def _seconds(value: Timeout, default: float | None) -> float | None:
    if isinstance(value, type(DEFAULT_NONE)):  # any of PTB's "not passed" markers
        return default
    if value is None or isinstance(value, int | float):
        return value
    raise TypeError(f"a timeout must be seconds or None, not {value!r}")


def backlog_of(application: Application) -> Callable[[], int]:  # type: ignore[type-arg]
    """Fetched updates not yet taken up, plus those in hand beyond `BUSY_UPDATES`."""
    queue, processor = application.update_queue, application.update_processor

    def backlog() -> int:
        return queue.qsize() + max(0, processor.current_concurrent_updates - BUSY_UPDATES)

    return backlog


class WrappingRequest(BaseRequest):
    """A request object that wraps another: it starts, stops and times out as `inner`
    does, and `forward` passes a call on unchanged. Subclasses add what they are for
    around `forward` in their `do_request`."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def forward(
        self,
        url: str,
        method: str,
        request_data: RequestData | None,
        read_timeout: Timeout,
        write_timeout: Timeout,
        connect_timeout: Timeout,
        pool_timeout: Timeout,
    ) -> tuple[int, bytes]:
        return await self.inner.do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )


class BacklogGatedPolling(WrappingRequest):
    """Wraps the request object used for `getUpdates`: before each call it waits (at most
    `max_wait` seconds) while `backlog()` says fetched updates are still queued.

    Fetching more while the handlers are behind only adds calls; fetching when the queue
    is empty, even while the last update is still being handled, keeps the next batch
    ready. An update is confirmed to Telegram by the next `getUpdates`, so waiting also
    keeps fewer fetched-but-unhandled updates exposed to a crash."""

    def __init__(
        self,
        inner: BaseRequest,
        backlog: Callable[[], int] = lambda: 0,
        max_wait: float = MAX_BACKLOG_WAIT_SECONDS,
    ) -> None:
        super().__init__(inner)
        self.backlog = backlog
        self.max_wait = max_wait

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = DEFAULT_NONE,
        write_timeout: Timeout = DEFAULT_NONE,
        connect_timeout: Timeout = DEFAULT_NONE,
        pool_timeout: Timeout = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        waited = 0.0
        while self.backlog() > 0 and waited < self.max_wait:
            await asyncio.sleep(BACKLOG_CHECK_SECONDS)
            waited += BACKLOG_CHECK_SECONDS
        return await self.forward(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )


class AiohttpRequest(BaseRequest):
    """Bot API calls over aiohttp's client instead of httpx (`WHISTLE_BOT_API_CLIENT=aiohttp`).

    Same contract as PTB's `HTTPXRequest`: form-encoded parameters, multipart when files
    are sent, `(status, body)` back, timeouts as `TimedOut` and connection failures as
    `NetworkError`. aiohttp (already installed for the loopback server) parses HTTP in C,
    so a call costs less CPU than with httpx (`bench/http_client.py`; figures in
    docs/performance.md), and the Bot API client is most of what the bot does under load."""

    def __init__(
        self,
        connection_pool_size: int = 16,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        proxy: str | None = None,
    ) -> None:
        if proxy is not None and not proxy.startswith(("http://", "https://")):
            raise ValueError("aiohttp reaches only http:// and https:// proxies")
        self._proxy = proxy
        self._pool_size = connection_pool_size
        self._timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts[0]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(
        self,
        read: Timeout,
        write: Timeout,
        connect: Timeout,
        pool: Timeout,
    ) -> aiohttp.ClientTimeout:
        default_read, default_write, default_connect, default_pool = self._timeouts
        read_s = _seconds(read, default_read)
        write_s = _seconds(write, default_write)
        connect_s = _seconds(connect, default_connect)
        pool_s = _seconds(pool, default_pool)
        # aiohttp has no separate write timeout; a request must be written and answered
        # within write + read. Its `connect` covers waiting for a pooled connection too.
        total = None if read_s is None or write_s is None else read_s + write_s
        waiting = None if connect_s is None or pool_s is None else connect_s + pool_s
        return aiohttp.ClientTimeout(
            total=total, connect=waiting, sock_connect=connect_s, sock_read=read_s
        )

    @staticmethod
    def _body(request_data: RequestData | None) -> aiohttp.FormData | bytes | None:
        """A JSON body (the Bot API takes one; encoding it is a single C call, where
        form-encoding Chinese text percent-escapes every byte), or multipart for files."""
        if request_data is None:
            return None
        if not request_data.contains_files:
            return json.dumps(request_data.parameters).encode()
        form = aiohttp.FormData()
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        files = request_data.multipart_data
        for name, (filename, content, mimetype) in files.items():
            form.add_field(name, content, filename=filename, content_type=mimetype)
        return form

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = DEFAULT_NONE,
        write_timeout: Timeout = DEFAULT_NONE,
        connect_timeout: Timeout = DEFAULT_NONE,
        pool_timeout: Timeout = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout)
        try:
            body = self._body(request_data)
            headers = JSON_HEADERS if isinstance(body, bytes) else None
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout, proxy=self._proxy
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
