"""Schedule edits, for admins: ``PATCH /api/cities/{city}``.

The edit is read with the config's rules (:func:`coordinator.overrides.parse_patch`), then
runs the one command path, so it is logged (a ``schedule`` event), audited and shared like
any other change; the config file is never rewritten.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator import views
from coordinator.context import context
from coordinator.overrides import OverrideError, parse_patch
from coordinator.protocol import ScheduleCommand
from coordinator.routes.common import json_object, path_city, read_body, require_admin
from coordinator.routes.errors import ApiError


async def patch_city(request: Request) -> Response:
    """Any of ``start_local``, ``duration_minutes``, ``confirmed``, ``venue``: 200 with the
    city as ``/api/cities`` shows it now; 400 naming the field, 403 for another role, 404
    for a city not in the event."""
    record = await require_admin(request, "changing the schedule")
    ctx = context(request)
    city_id = path_city(request)
    raw = json_object(await read_body(request))
    file_city = ctx.store.file_config.city(city_id)
    assert file_city is not None  # path_city checked it
    try:
        override = parse_patch(raw, file_city)
    except OverrideError as exc:
        first = exc.faults[0]
        raise ApiError(
            "invalid",
            f"{first[0]}: {first[1]}" if first[0] else first[1],
            field=exc.field or None,
            problems=[f"{where}: {message}" for where, message in exc.faults]
            if len(exc.faults) > 1
            else (),
        ) from None
    command = ScheduleCommand(
        id=f"schedule-{secrets.token_hex(6)}", city=city_id, override=override
    )
    await ctx.commands.execute(command, record)
    city = ctx.config.city(city_id)
    assert city is not None
    return JSONResponse(views.city_json(city, ctx.config.cities[0].timezone))
