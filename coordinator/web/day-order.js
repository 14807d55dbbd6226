// The order of the day, for the dashboard: which readings are live now, which comes next, and
// the order of the cards. Pure functions of the cities (schedule + status fields) and an
// instant: no DOM, so the rule is written once.

const LIVE = new Set(["live", "paused"]);
const NOT_STARTED = new Set(["scheduled", "preparing", "delayed"]);
const OVER = new Set(["finished", "cancelled"]);

/**
 * The card order: live (and paused) readings first, then those to come, then those over; each
 * group by start (`startOf(c)`, ms), ties in the config's order. Without live statuses
 * (`known` false: not synced) only the start counts, so nothing is put first as live.
 */
export function dayOrder(cities, startOf, known) {
  const rank = (c) => (!known ? 1 : LIVE.has(c.state) ? 0 : OVER.has(c.state) ? 2 : 1);
  return cities
    .map((c, i) => ({ c, i }))
    .sort((a, b) => rank(a.c) - rank(b.c) || startOf(a.c) - startOf(b.c) || a.i - b.i)
    .map(({ c }) => c.id);
}

/** The readings live now (paused ones too), in card order. */
export function liveNow(cities) {
  return cities.filter((c) => LIVE.has(c.state));
}

/**
 * What starts next: the readings not yet begun (nor cancelled) whose time is not over, with
 * the earliest start; several when they start at the same minute. ``{cities: [], start}``
 * when nothing is to come. With ``known`` false, every reading counts as not begun unless its
 * time is over (only the schedule is known).
 */
export function nextUp(cities, startOf, durationOf, now, known) {
  const coming = cities.filter((c) => (!known || NOT_STARTED.has(c.state)) &&
    startOf(c) + durationOf(c) > now && (known || startOf(c) > now));
  if (!coming.length) return { cities: [], start: null };
  const first = Math.min(...coming.map(startOf));
  const minute = Math.floor(first / 60000);
  return { cities: coming.filter((c) => Math.floor(startOf(c) / 60000) === minute), start: first };
}
