"""The audit log, for admins: JSON, or CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coordinator.context import context
from coordinator.cue_log import spreadsheet_safe
from coordinator.routes.common import download, require_admin

AUDIT_FIELDS = [
    "seq", "at", "role", "actor", "city", "kind", "from", "to", "note", "command_id",
    "delay_minutes",
]  # fmt: skip


async def api_log(request: Request) -> Response:
    await require_admin(request, "the audit log")
    entries = await context(request).store.audit(request.query_params.get("city"))
    rows = [e.as_dict() for e in entries]
    if request.url.path.endswith(".csv"):
        return download(audit_csv(rows), "text/csv", "audit-log.csv")
    return JSONResponse({"entries": rows})


def audit_csv(rows: list[dict[str, Any]]) -> str:
    """The audit log as CSV; cells that a spreadsheet would run as formulas are quoted."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=AUDIT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in row.items()}
        )
    return out.getvalue()
