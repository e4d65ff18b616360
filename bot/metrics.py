"""What `/metrics` shows, in Prometheus' text format, and how the bot is judged healthy.

Counters of what happened since the process started (updates handled, Bot API calls by
method and outcome, 429s) are kept in memory; figures of the street (outbox, open and
overdue issues, alerts fired) are read from the database when they are asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from telegram.request import BaseRequest, RequestData

from bot.bot_api import Method
from bot.records import OutboxState
from bot.transport import DEFAULT_NONE, Timeout, WrappingRequest
from storage import monitoring
from storage.db import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OUTBOX_STUCK_SECONDS = 600
"""An undelivered message older than this means the outbox is not draining."""
QUIET_POLLING_SECONDS = 120
"""Beyond the long-poll timeout: no answered getUpdates for this long means updates are
not being received."""


@dataclass
class StreetFigures:
    outbox: OutboxState
    open_by_state: dict[str, int]
    overdue: int
    alerts_fired: dict[str, int]


class _Snapshot(Collector):
    """The street's figures, read from the database just before each exposition."""

    def __init__(self) -> None:
        self.figures: StreetFigures | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        figures = self.figures
        if figures is None:
            return
        yield GaugeMetricFamily(
            "whistle_outbox_depth", "Messages queued and not yet delivered", figures.outbox.depth
        )
        yield GaugeMetricFamily(
            "whistle_outbox_oldest_due_age_seconds",
            "How long the oldest message that is due now has waited since it was queued",
            figures.outbox.oldest_due_age,
        )
        open_issues = GaugeMetricFamily(
            "whistle_open_issues", "Issues somebody still has to act on", labels=["state"]
        )
        for state, count in sorted(figures.open_by_state.items()):
            open_issues.add_metric([state], count)
        yield open_issues
        yield GaugeMetricFamily(
            "whistle_overdue_issues", "Open issues past their resolve deadline", figures.overdue
        )
        fired = CounterMetricFamily(
            "whistle_alerts_fired", "Deadline alerts fired since the install", labels=["kind"]
        )
        for kind, count in sorted(figures.alerts_fired.items()):
            fired.add_metric([kind], count)
        yield fired


@dataclass
class Metrics:
    """One running bot's metrics (a registry of its own: two bots in one process, as in
    tests, do not share counters)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.updates = Counter(
            "whistle_updates_handled", "Updates taken up for handling", registry=self.registry
        )
        self.api_calls = Counter(
            "whistle_bot_api_calls",
            "Bot API calls by method and outcome (HTTP status, or network_error)",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "whistle_bot_api_429", "429 Too Many Requests answers received", registry=self.registry
        )
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)
        self.last_poll: float | None = None
        """When getUpdates last answered (the bot's clock, epoch seconds)."""

    def api_call(self, method: str, outcome: str) -> None:
        self.api_calls.labels(method=method, outcome=outcome).inc()
        if outcome == "429":
            self.rate_limited.inc()

    async def exposition(self, db: Database, now: int) -> bytes:
        """The text /metrics answers with, figures of the street read now."""
        self._snapshot.figures = await street_figures(db, now)
        try:
            return generate_latest(self.registry)
        finally:
            self._snapshot.figures = None


async def street_figures(db: Database, now: int) -> StreetFigures:
    conn = db.reader
    return StreetFigures(
        outbox=await monitoring.outbox_state(conn, now),
        open_by_state=await monitoring.open_issues_by_state(conn),
        overdue=await monitoring.overdue_open_issues(conn, now),
        alerts_fired=await monitoring.alerts_fired(conn),
    )


async def health_problem(
    db: Database,
    metrics: Metrics,
    now: int,
    *,
    polling: bool,
    poll_timeout: int,
    receiving: bool,
) -> str | None:
    """None while updates are being received and the outbox drains; else one line saying
    what is wrong."""
    if not receiving:
        return "not receiving updates: the bot is not polling and serves no webhook"
    if polling:
        if metrics.last_poll is None:
            return "not receiving updates: getUpdates has not answered yet"
        quiet = now - metrics.last_poll
        if quiet > poll_timeout + QUIET_POLLING_SECONDS:
            return f"not receiving updates: getUpdates last answered {int(quiet)} s ago"
    outbox = await monitoring.outbox_state(db.reader, now)
    if outbox.oldest_age > OUTBOX_STUCK_SECONDS:
        return (
            f"outbox not draining: {outbox.depth} message(s) waiting, the oldest for "
            f"{outbox.oldest_age} s"
        )
    return None


class MeteredRequest(WrappingRequest):
    """Wraps a request object and counts every call by method and outcome."""

    def __init__(
        self,
        inner: BaseRequest,
        metrics: Metrics,
        now: Callable[[], float],
    ) -> None:
        super().__init__(inner)
        self.metrics = metrics
        self.now = now

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
        api_method = url.rsplit("/", 1)[-1]
        try:
            status, body = await self.forward(
                url,
                method,
                request_data,
                read_timeout,
                write_timeout,
                connect_timeout,
                pool_timeout,
            )
        except Exception:
            self.metrics.api_call(api_method, "network_error")
            raise
        self.metrics.api_call(api_method, str(status))
        if api_method == Method.GET_UPDATES and status == 200:
            self.metrics.last_poll = self.now()
        return status, body
