// The event's cities in a menu of the organiser's forms (a token's city, a script's city).
import { el } from "/static/client.js";

/**
 * Fill ``select`` with one option per city, named by ``nameOf(id)``, keeping the city that
 * was chosen if it is still there.
 * @param {HTMLSelectElement} select
 * @param {{id: string}[]} cities
 * @param {(id: string) => string} nameOf
 */
export function fillCityMenu(select, cities, nameOf) {
  const chosen = select.value;
  select.replaceChildren(...cities.map((city) => {
    const option = el("option", "", nameOf(city.id));
    option.value = city.id;
    return option;
  }));
  if (chosen) select.value = chosen;
}
