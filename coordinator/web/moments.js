// The moments (docs/config.md): instants the organiser names, counted down to the tenth of a
// second on the event clock (clock.js), the same on the dashboard, the projector and phones.
import { formatTenths } from "/static/clock.js";

const JUST_PASSED_MS = 60000; // "now" stays up for a minute after the moment

/** The moments to show at ``now``: those to come within ``withinMs`` and those just passed,
 * in time order. */
export function currentMoments(moments, now, withinMs = Infinity) {
  return (moments || [])
    .map((m) => ({ ...m, at: Date.parse(m.at_utc) }))
    .filter((m) => m.at - now <= withinMs && now - m.at < JUST_PASSED_MS)
    .sort((a, b) => a.at - b.at);
}

function momentName(moment, lang) {
  const name = moment.name || {};
  return name[lang] || name.en || Object.values(name)[0] || moment.id;
}

/**
 * Draw the moments into ``list`` (a <ul>): one item per moment, its name and "in 00:09:59.8"
 * (``t("moment_in", {d})``), or ``t("moment_now")`` once it has come. Items are kept between
 * calls (this runs ten times a second), and the list is hidden when there is nothing to show.
 */
export function renderMoments(list, moments, now, lang, t, withinMs = Infinity) {
  if (!list) return;
  const shown = currentMoments(moments, now, withinMs);
  list.hidden = !shown.length;
  const items = new Map([...list.children].map((li) => [li.dataset.moment, li]));
  const wanted = shown.map((m) => {
    let li = items.get(m.id);
    if (!li) {
      li = document.createElement("li");
      li.className = "moment";
      li.dataset.moment = m.id;
      const name = document.createElement("span");
      name.className = "moment-name";
      const count = document.createElement("time");
      count.className = "moment-countdown";
      li.append(name, " ", count);
    }
    const [name, , count] = li.childNodes;
    const label = momentName(m, lang);
    if (name.textContent !== label) name.textContent = label;
    const text = m.at > now ? t("moment_in", { d: formatTenths(m.at - now) }) : t("moment_now");
    if (count.textContent !== text) count.textContent = text;
    count.dateTime = m.at_utc;
    li.dataset.passed = String(m.at <= now);
    return li;
  });
  const same = wanted.length === list.children.length && wanted.every((li, i) => list.children[i] === li);
  if (!same) list.replaceChildren(...wanted);
}
