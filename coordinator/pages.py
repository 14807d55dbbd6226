"""Server-rendered parts of the pages: what a visitor sees before (or without) JavaScript."""

from __future__ import annotations

import html

from coordinator import config as config_mod
from coordinator import schedule


def render_schedule(cfg: config_mod.Config) -> str:
    """The schedule as plain HTML, so the page is useful before (or without) JavaScript."""
    items = []
    for city in cfg.cities:
        local = schedule.view(city.start_utc, city.timezone)
        tbc = "" if city.confirmed else ' <span class="tbc" data-i18n="tbc">to be confirmed</span>'
        venue = f'<span class="venue">{html.escape(city.venue)}</span>' if city.venue else ""
        items.append(
            f'<li class="city" data-city="{html.escape(city.id)}">'
            f'<h2 class="city-name">{html.escape(city.name.get("en", city.id))}</h2> '
            f'<time class="start-local" datetime="{schedule.iso_utc(city.start_utc)}">'
            f"{local.local:%H:%M} {html.escape(local.abbreviation)}</time>{tbc} {venue}</li>"
        )
    return "\n".join(items)
