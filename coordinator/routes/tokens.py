"""Access tokens over HTTP, for admins: create (the token and its invite link, shown once),
list (never the tokens), revoke. The store holds them, so every process sees the change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator import auth, qr
from coordinator.context import context
from coordinator.routes.common import json_object, read_body, require_admin
from coordinator.routes.errors import ApiError
from coordinator.routes.hosts import link_base
from coordinator.rules import Role

NO_STORE = {"Cache-Control": "no-store"}
ROLES = {role.value: role for role in auth.STAFF_ROLES}


def console_path(record: auth.TokenRecord) -> str:
    """The console a token opens: /coordinator, /operator/{city} or /admin."""
    if record.role is Role.OPERATOR:
        return f"/operator/{record.city}"
    return "/" + record.role.value


def token_fields(record: auth.TokenRecord) -> dict[str, Any]:
    """A token as listed: never the token, nor its hash."""
    return {
        "id": record.id,
        "role": record.role.value,
        "city": record.city,
        "label": record.label,
        "created_utc": record.created,
        "last_used_utc": record.last_used,
    }


def _new_token_request(request: Request, body: dict[str, Any]) -> tuple[Role, str | None, str]:
    """The role, city and label of a POST body; ApiError ``invalid`` naming the field."""
    role = ROLES.get(body.get("role"))  # type: ignore[arg-type]  # any JSON value
    if role is None:
        raise ApiError("invalid", f"role: one of {', '.join(ROLES)}", field="role")
    city = body.get("city")
    if role is Role.ADMIN and city is not None:
        raise ApiError("invalid", "city: an admin token is not bound to a city", field="city")
    if role is not Role.ADMIN:
        if not isinstance(city, str) or not city:
            raise ApiError("invalid", f"city: a {role.value} token needs a city", field="city")
        if context(request).config.city(city) is None:
            raise ApiError("invalid", f"city: no city {city[:60]!r} in this event", field="city")
    label = body.get("label", "")
    if label is None:
        label = ""
    if not isinstance(label, str) or len(label) > auth.MAX_LABEL or not label.isprintable():
        raise ApiError(
            "invalid",
            f"label: text of at most {auth.MAX_LABEL} printable characters",
            field="label",
        )
    return role, city, label.strip()


async def create_token(request: Request) -> Response:
    await require_admin(request, "managing tokens")
    body = json_object(await read_body(request))
    role, city, label = _new_token_request(request, body)
    base = link_base(request)
    ctx = context(request)
    token, record = auth.new_token(role, city, label)
    await ctx.store.save_token(record)
    await ctx.tokens.refresh()  # usable on this process at once
    invite = f"{base}{console_path(record)}#token={token}"
    svg = await asyncio.to_thread(qr.qr_svg, invite)
    answer = {
        **{k: v for k, v in token_fields(record).items() if k in ("id", "role", "city", "label")},
        "token": token,
        "invite_url": invite,
        "invite_qr_svg": svg.decode("utf-8"),
    }
    return JSONResponse(answer, status_code=201, headers=NO_STORE)


async def list_tokens(request: Request) -> Response:
    await require_admin(request, "managing tokens")
    records = await context(request).store.tokens()
    return JSONResponse({"tokens": [token_fields(r) for r in records]}, headers=NO_STORE)


async def delete_token(request: Request) -> Response:
    await require_admin(request, "managing tokens")
    token_id: str = request.path_params["token_id"]
    ctx = context(request)
    if not await ctx.store.delete_token(token_id, datetime.now(UTC)):
        raise ApiError("not_found", f"no token {token_id[:60]!r}")
    await ctx.tokens.refresh()  # its connections on this process lose their staff views now
    return Response(status_code=204, headers=NO_STORE)
