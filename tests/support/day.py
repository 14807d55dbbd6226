"""The event moved to today: a config whose readings start a chosen number of minutes from the
real now, so the server's own clock (which stamps ``started_at``) and the pages agree."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml


def config_around_now(
    path: Path,
    offsets_min: Mapping[str, int],
    *,
    now: datetime | None = None,
    extra_event: Mapping[str, Any] | None = None,
) -> datetime:
    """Rewrite the config at ``path``: each listed city starts ``offsets_min[id]`` minutes from
    ``now`` (to the minute; cities not listed start a day later). Returns the rounded now."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["event"]["date"] = now.date().isoformat()
    if extra_event:
        data["event"].update(extra_event)
    for city in data["cities"]:
        start = now + timedelta(minutes=offsets_min.get(city["id"], 24 * 60))
        local = start.astimezone(ZoneInfo(city["timezone"]))
        city["start"] = local.strftime("%Y-%m-%dT%H:%M")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return now


def shifted_clock_script(shift_ms: int) -> str:
    """An init script that puts a page's device clock ``shift_ms`` off: ``Date.now()`` and
    ``new Date()`` (no argument) are shifted; timers and ``performance.now()`` run as usual.
    Playwright's ``page.clock`` would freeze or drive timers too; this only moves the clock."""
    return f"""(() => {{
  const shift = {int(shift_ms)};
  const RealDate = Date;
  class ShiftedDate extends RealDate {{
    constructor(...args) {{ if (args.length) super(...args); else super(RealDate.now() + shift); }}
    static now() {{ return RealDate.now() + shift; }}
  }}
  globalThis.Date = ShiftedDate;
}})();"""


def trust_the_device_clock(page: Any) -> None:
    """Remove ``server_time`` from the server's frames to ``page``, as an older server would
    send them: the page then keeps its device's clock (a test's frozen ``page.clock``)."""

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if isinstance(message, str):
                data = json.loads(message)
                if isinstance(data, dict):
                    data.pop("server_time", None)
                message = json.dumps(data)
            ws.send(message)

        server.on_message(to_page)
        ws.on_message(lambda message: server.send(message))

    page.route_web_socket(re.compile(r"/ws$"), route)
