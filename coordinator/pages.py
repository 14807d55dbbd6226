"""Server-rendered parts of the pages: what a visitor sees before (or without) JavaScript."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from urllib.parse import quote

from coordinator import config as config_mod
from coordinator import schedule, views

# English names, whatever the server's locale: strftime's %a/%b would follow it.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(local: datetime) -> str:
    return f"{WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}"


def _city_item(city: config_mod.City) -> str:
    esc = html.escape
    local = schedule.view(city.start_utc, city.timezone)
    utc = schedule.view(city.start_utc, "UTC")
    tbc = "" if city.confirmed else ' <span class="tbc" data-i18n="tbc">to be confirmed</span>'
    parts = [
        f'<li class="city" data-city="{esc(city.id)}">',
        f'<h3 class="city-name">{esc(city.name.get("en", city.id))}</h3>',
        f'<p class="start"><time class="start-local" datetime="{schedule.iso_utc(city.start_utc)}">'
        f"{_day(local.local)}, {local.local:%H:%M} {esc(local.abbreviation)}</time>"
        f" ({utc.local:%H:%M} UTC){tbc}</p>",
    ]
    if city.venue:
        parts.append(f'<p class="venue">{esc(city.venue)}</p>')
    else:
        parts.append('<p class="venue tbc" data-i18n="venue_tbc">Venue to be confirmed</p>')
    if city.address:
        parts.append(f'<p class="address">{esc(city.address)}</p>')
    if city.access:
        parts.append(f'<p class="access">Getting there: {esc(city.access)}</p>')
    parts.append(
        f'<p class="card-links"><a class="cal-link" href="/cities/{quote(city.id)}/calendar.ics"'
        ' data-i18n="add_to_calendar">Add to calendar</a></p></li>'
    )
    return "".join(parts)


def render_schedule(cfg: config_mod.Config, now: datetime | None = None) -> str:
    """The schedule as plain HTML, so the page is useful before (or without) JavaScript: the
    ``<ul id="cities">`` with each city's start in its own time and in UTC, whether it is
    confirmed, where it is and a calendar link; before it, when this was generated (``now``,
    by default the time of the request). Live status needs the script (or ``/api/state``)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    items = "\n".join(_city_item(city) for city in cfg.cities)
    # The same JSON as GET /api/cities, for the script to draw the cards at once (no request,
    # no flash of the plain list). An attribute, not an inline <script>: the CSP allows none.
    data = json.dumps(views.cities_body(cfg), ensure_ascii=False, separators=(",", ":"))
    return (
        f'<p id="served-at" class="served-at">Published schedule, as of {_day(now)},'
        f" {now:%H:%M} UTC (when this page was generated). Live statuses need JavaScript:"
        ' reload for news, or read <a href="/api/state">/api/state</a>.</p>\n'
        '<ul id="cities" class="cities" aria-labelledby="readings-title"'
        f' data-schedule="{html.escape(data, quote=True)}">\n{items}\n</ul>'
    )
