"""The services: what handlers and the command line call. No Telegram in here."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.i18n import plain
from bot.services.closures import ClosureService
from bot.services.context import ServiceContext
from bot.services.escalation import EscalationService
from bot.services.extensions import ExtensionService
from bot.services.issues import IssueService, Redispatched
from bot.services.languages import Languages
from bot.services.notices import Notices
from bot.services.organisation import OrganisationService
from bot.services.people import PeopleService
from bot.services.refusal import Refused
from bot.services.reports import ReportService
from bot.services.statistics import StatisticsService
from bot.services.whistles import WhistleService
from bot.settings import DEFAULT_ZONE, Settings
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    zone: ZoneInfo
    context: ServiceContext
    """Shared by the services that change issues; the running bot sets its `on_commit`."""
    organisations: OrganisationService
    people: PeopleService
    reports: ReportService
    issues: IssueService
    escalation: EscalationService
    statistics: StatisticsService
    notices: Notices
    closures: ClosureService
    """Closures that say why (不属实, 重复, 非本辖区) and 附议."""
    extensions: ExtensionService
    whistles: WhistleService  # 联合吹哨


def build_services(settings: Settings, clock: Clock, db: Database) -> Services:
    zone = ZoneInfo(settings.timezone or DEFAULT_ZONE)
    organisations = OrganisationService(db, clock, zone=settings.timezone)
    languages = Languages(settings.language)
    people_service = PeopleService(
        db, clock, settings.invite_days, organisations.directory, languages
    )
    notices = Notices(
        languages, zone, organisations.directory, people_service, maps=settings.map_links
    )
    reports = ReportService(
        db,
        clock,
        settings.max_photos,
        settings.max_text_length,
        settings.report_limit_per_hour,
        organisations.directory,
        people_service.actor,
    )
    context = ServiceContext(db, clock, organisations, notices)
    issues = IssueService(context, reports, reports_per_hour=settings.report_limit_per_hour)

    async def after_import() -> list[str]:
        moved = await issues.redispatch_stranded(plain(settings.language, "why_org_import"))
        return [str(m) for m in moved]

    async def after_revoke() -> list[Redispatched]:
        return await issues.redispatch_stranded(plain(settings.language, "why_revoked"))

    organisations.after_import = after_import
    people_service.after_revoke = after_revoke
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        zone=zone,
        context=context,
        organisations=organisations,
        people=people_service,
        reports=reports,
        issues=issues,
        escalation=EscalationService(context),
        statistics=StatisticsService(context, zone, settings.stats_weekday, settings.stats_time),
        notices=notices,
        closures=ClosureService(context, issues, reports, settings.max_text_length),
        extensions=ExtensionService(context, settings.max_text_length),
        whistles=WhistleService(context, issues),
    )


__all__ = ["Refused", "Services", "build_services"]
