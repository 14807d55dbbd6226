// The schedule, city by city (GET /api/cities), and its edits (PATCH /api/cities/CITY): the
// wall time in the city's own zone, the length, whether it is confirmed, the venue. Only the
// fields changed are sent; a refusal is shown next to the field it names (the error's `field`,
// e.g. start_local for a time a daylight-saving change skips), every problem at once.
import { el } from "/static/client.js";

const $ = (id) => document.getElementById(id);
const VENUE = ["name", "address", "access"];
const VENUE_ATTRIBUTE = { name: "venue", address: "address", access: "access" };
const FIELDS = ["start_local", "duration_minutes", "confirmed", ...VENUE.map((f) => `venue.${f}`)];

const input = (field) => $(`edit-${field}`);

export class ScheduleSection {
  /** @param {object} page  {api, t(), cityName(id), say(text, kind), onCities(cities)} */
  constructor(page) {
    this.page = page;
    this.cities = [];
    this.editing = null; // the id of the city in the form
    $("schedule-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.save();
    });
    $("schedule-cancel").addEventListener("click", () => this.close());
  }

  async load() {
    try {
      const answer = await this.page.api.call("GET", "/api/cities");
      this.cities = answer.cities;
    } catch (failure) {
      this.page.say(this.page.t()("ad_failed", { message: failure.message }), "error");
      return;
    }
    this.page.onCities(this.cities);
    this.render();
  }

  city(id) {
    return this.cities.find((c) => c.id === id) || null;
  }

  render() {
    const t = this.page.t();
    $("schedule-list").replaceChildren(...this.cities.map((city) => {
      const row = el("tr");
      row.dataset.city = city.id;
      const name = el("th", "", this.page.cityName(city.id));
      name.scope = "row";
      row.append(
        name,
        el("td", "start", startText(city)),
        el("td", "duration", String(city.duration_minutes)),
        el("td", "confirmed", t(city.confirmed ? "ad_yes" : "ad_no")),
        el("td", "venue", city.venue || "–"),
      );
      const edit = el("button", "quiet small", t("ad_edit"));
      edit.type = "button";
      edit.setAttribute("aria-label", t("ad_edit_named", { city: this.page.cityName(city.id) }));
      edit.addEventListener("click", () => this.open(city.id));
      const actions = el("td", "actions-cell");
      actions.append(edit);
      row.append(actions);
      return row;
    }));
    if (this.editing) this.title();
  }

  title() {
    const t = this.page.t();
    const city = this.city(this.editing);
    $("schedule-form-title").textContent = t("ad_edit_title", { city: this.page.cityName(city.id) });
    $("schedule-zone").textContent = t("ad_zone", { zone: city.timezone });
  }

  open(id) {
    const city = this.city(id);
    if (!city) return;
    this.editing = id;
    this.clearErrors();
    input("start_local").value = city.start_local.slice(0, 16);
    input("duration_minutes").value = String(city.duration_minutes);
    input("confirmed").checked = Boolean(city.confirmed);
    for (const field of VENUE) input(`venue.${field}`).value = city[VENUE_ATTRIBUTE[field]] || "";
    $("schedule-form").hidden = false;
    this.title();
    $("schedule-form-title").focus();
  }

  close() {
    const id = this.editing;
    this.editing = null;
    $("schedule-form").hidden = true;
    const button = id && document.querySelector(`#schedule-list tr[data-city="${id}"] button`);
    if (button) button.focus();
  }

  /** The PATCH body: only what differs from the city as shown ("" clears a venue field). */
  changes(city) {
    const body = {};
    const start = input("start_local").value;
    if (start !== city.start_local.slice(0, 16)) body.start_local = start;
    const duration = input("duration_minutes").value.trim();
    if (duration !== String(city.duration_minutes)) {
      body.duration_minutes = /^\d+$/.test(duration) ? Number(duration) : duration;
    }
    if (input("confirmed").checked !== Boolean(city.confirmed)) {
      body.confirmed = input("confirmed").checked;
    }
    const venue = {};
    for (const field of VENUE) {
      const value = input(`venue.${field}`).value.trim();
      if (value !== (city[VENUE_ATTRIBUTE[field]] || "")) venue[field] = value || null;
    }
    if (Object.keys(venue).length) body.venue = venue;
    return body;
  }

  async save() {
    const t = this.page.t();
    const city = this.city(this.editing);
    if (!city) return;
    this.clearErrors();
    const body = this.changes(city);
    if (!Object.keys(body).length) {
      this.page.say(t("ad_nothing_changed"), "");
      return;
    }
    const path = `/api/cities/${encodeURIComponent(city.id)}`;
    try {
      const updated = await this.page.api.call("PATCH", path, { json: body });
      Object.assign(city, updated);
      this.page.say(t("ad_saved", { city: this.page.cityName(city.id), start: startText(city) }), "ok");
      this.render();
      this.close();
    } catch (failure) {
      this.showErrors(failure);
    }
  }

  clearErrors() {
    for (const field of FIELDS) {
      $(`error-${field}`).textContent = "";
      input(field).removeAttribute("aria-invalid");
    }
    $("schedule-error").textContent = "";
  }

  /** Each problem next to its field; what names no field of the form, under the form. */
  showErrors(failure) {
    const t = this.page.t();
    const faults = failure.problems.length
      ? failure.problems.map((p) => {
        const [where, ...rest] = p.split(": ");
        return FIELDS.includes(where) ? [where, rest.join(": ")] : [null, p];
      })
      : [[failure.field, failure.message.replace(`${failure.field}: `, "")]];
    let first = null;
    for (const [field, message] of faults) {
      if (field && FIELDS.includes(field)) {
        $(`error-${field}`).textContent = message;
        input(field).setAttribute("aria-invalid", "true");
        first = first || field;
      } else {
        $("schedule-error").textContent = t("ad_failed", { message });
      }
    }
    if (first) input(first).focus();
  }
}

/** "2025-09-20 15:30 CEST": the wall time in the city's zone, as an organiser says it. */
export function startText(city) {
  const wall = city.start_local.slice(0, 16).replace("T", " ");
  return city.abbreviation ? `${wall} ${city.abbreviation}` : wall;
}
