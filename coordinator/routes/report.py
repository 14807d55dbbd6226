"""Who is connected, and the after-event report, for admins: ``/api/connections``,
``/api/report`` and ``/api/report.csv`` (docs/protocol.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator import connections, report
from coordinator.context import AppContext, context
from coordinator.routes.common import download, require_admin


async def api_connections(request: Request) -> Response:
    """Connections per city over every live process, as they last published them (at most a
    second or two old)."""
    await require_admin(request, "who is connected")
    ctx = context(request)
    processes = await ctx.store.all_counts()
    return JSONResponse(
        connections.connections_message(ctx.config, processes, datetime.now(UTC)),
        headers={"Cache-Control": "no-store"},
    )


async def api_report(request: Request) -> Response:
    await require_admin(request, "the report")
    built = await build_report(context(request))
    if request.url.path.endswith(".csv"):
        return download(report.report_csv(built), "text/csv", "report.csv")
    return JSONResponse(built.as_json(), headers={"Cache-Control": "no-store"})


async def build_report(ctx: AppContext) -> report.Report:
    """The report from the store's audit log, live cue logs and peaks, as of now."""
    entries = await ctx.store.audit()
    changes = [
        report.StatusChange(
            at=e.at, city=e.city, before=e.before, after=e.after, delay_minutes=e.delay_minutes
        )
        for e in entries
        if e.kind == "status"
    ]
    logs = {city.id: await ctx.store.cue_log(city.id) for city in ctx.config.cities}
    peaks = await ctx.store.peaks()
    return report.build(ctx.config, changes, logs, peaks, datetime.now(UTC))
