"""The schedule as JSON, and the calendar feeds (ICS), cached until a status changes."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator import ical_feed, schedule, views
from coordinator.caching import CachedBody, strong_etag
from coordinator.context import AppContext, context
from coordinator.routes.common import conditional, path_city
from coordinator.routes.errors import ApiError
from coordinator.routes.hosts import link_base


async def api_cities(request: Request) -> Response:
    cfg = context(request).config
    zone = request.query_params.get("tz")
    if zone is not None and not schedule.is_known_zone(zone):
        raise ApiError("invalid", f"tz: unknown time zone {zone!r}", field="tz")
    return JSONResponse(views.cities_body(cfg, zone or cfg.cities[0].timezone))


async def calendar_all(request: Request) -> Response:
    return await _feed(request, None)


async def calendar_city(request: Request) -> Response:
    return await _feed(request, (path_city(request),))


async def _feed(request: Request, city_ids: tuple[str, ...] | None) -> Response:
    ctx = context(request)
    base = link_base(request)
    cached = await ctx.feed_cache.get(
        (city_ids, base), functools.partial(_build_feed, ctx, base, city_ids)
    )
    return conditional(request, cached, "text/calendar; charset=utf-8")


async def _build_feed(
    ctx: AppContext, base_url: str, city_ids: tuple[str, ...] | None
) -> CachedBody:
    statuses = (await ctx.store.snapshot()).statuses
    body = ical_feed.build_feed(ctx.config, statuses, base_url=base_url, city_ids=city_ids)
    # An edit of the config changes the bytes without a status change: the file's time keeps
    # Last-Modified honest for clients that revalidate by date.
    modified = max(
        ical_feed.feed_last_modified(ctx.config, statuses, city_ids=city_ids), ctx.config_mtime
    )
    return CachedBody(body=body, etag=strong_etag(body), last_modified=modified)
