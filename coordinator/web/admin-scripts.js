// A city's script, checked before it is uploaded: the chosen file is sent to
// POST /api/cues/CITY/script/check, which reads it as the upload would and changes nothing; its
// problems (FILE:LINE, as `coordinator cues check` prints them), warnings and first cues are
// shown, and only a usable script can then be uploaded for real (PUT /api/cues/CITY/script).
//
// One CSV, TSV, YAML or Excel file holds every language and is sent as is; SRT and WebVTT come
// one file per language, the language in the name (my-hour.fr.srt), sent together as JSON.
import { fillCityMenu } from "/static/admin-cities.js";
import { el } from "/static/client.js";

const $ = (id) => document.getElementById(id);
const TYPES = {
  csv: "text/csv",
  tsv: "text/tab-separated-values",
  yaml: "application/yaml",
  yml: "application/yaml",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
};
const SUBTITLES = new Set(["srt", "vtt"]);

const extension = (name) => (name.includes(".") ? name.split(".").pop().toLowerCase() : "");

/** The language a subtitle file's name gives (my-hour.fr.srt → fr; pt-BR kept), or null. */
function languageOf(name) {
  const parts = name.split(".");
  return parts.length >= 3 && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(parts.at(-2))
    ? parts.at(-2) : null;
}

export class ScriptsSection {
  /** @param {object} page  {api, t(), cityName(id), say(text, kind)} */
  constructor(page) {
    this.page = page;
    this.checked = null; // {city, request, report} of the file on screen
    $("script-file").addEventListener("change", () => this.check());
    $("script-city").addEventListener("change", () => this.check());
    $("script-upload").addEventListener("click", () => this.upload());
  }

  setCities(cities) {
    fillCityMenu($("script-city"), cities, (id) => this.page.cityName(id));
    if (this.checked) this.render();
  }

  /** The request body for the chosen files, or a problem (a text) the server need not see. */
  async body(files) {
    const t = this.page.t();
    const kinds = new Set(files.map((file) => extension(file.name)));
    if (kinds.size !== 1) return { problem: t("ad_script_one_format") };
    const [kind] = kinds;
    if (TYPES[kind]) {
      if (files.length > 1) return { problem: t("ad_script_one_file", { format: kind }) };
      return { body: files[0], type: TYPES[kind] };
    }
    if (!SUBTITLES.has(kind)) return { problem: t("ad_script_unknown", { name: files[0].name }) };
    const texts = {};
    for (const file of files) {
      const lang = languageOf(file.name);
      if (!lang) return { problem: t("ad_script_no_language", { name: file.name }) };
      texts[lang] = await file.text();
    }
    return { json: { format: kind, files: texts } };
  }

  async check() {
    const files = [...$("script-file").files];
    this.checked = null;
    if (!files.length) {
      $("script-report").hidden = true;
      return;
    }
    const city = $("script-city").value;
    const request = await this.body(files);
    if (request.problem) {
      this.checked = { city, request, report: { ok: false, problems: [request.problem] } };
      this.render();
      return;
    }
    const path = `/api/cues/${encodeURIComponent(city)}/script/check`;
    try {
      const report = await this.page.api.call("POST", path, request);
      this.checked = { city, request, report };
    } catch (failure) {
      const problems = failure.problems.length ? failure.problems : [failure.message];
      this.checked = { city, request, report: { ok: false, problems } };
    }
    this.render();
  }

  render() {
    const t = this.page.t();
    const { city, report } = this.checked;
    $("script-report").hidden = false;
    const summary = report.ok
      ? t("ad_script_ok", { n: report.count, languages: report.languages.join(", ") })
      : t(report.problems.length === 1 ? "ad_script_problem_one" : "ad_script_problems", {
        n: report.problems.length,
      });
    const line = $("script-summary");
    line.textContent = summary;
    line.className = `message ${report.ok ? "ok" : "error"}`;
    $("script-problems").replaceChildren(...report.problems.map((p) => problemItem(p)));
    $("script-warnings").replaceChildren(...(report.warnings || []).map((p) => problemItem(p)));
    this.renderPreview(report);
    const upload = $("script-upload");
    upload.hidden = !report.ok;
    upload.textContent = t("ad_script_upload", { city: this.page.cityName(city) });
  }

  renderPreview(report) {
    const cues = report.ok ? report.cues : [];
    $("script-preview-box").hidden = !cues.length;
    const t = this.page.t();
    const head = [t("ad_cue"), ...report.languages || []].map((text) => {
      const cell = el("th", "", text);
      cell.scope = "col";
      return cell;
    });
    $("script-preview-head").replaceChildren(...head);
    $("script-preview-body").replaceChildren(...cues.map((cue) => {
      const row = el("tr");
      row.append(el("th", "", cue.label || String(cue.index)));
      row.firstChild.scope = "row";
      for (const lang of report.languages) {
        row.append(el("td", "cue-text", cue.text[lang] === "" ? "–" : cue.text[lang] ?? ""));
      }
      return row;
    }));
  }

  async upload() {
    const t = this.page.t();
    if (!this.checked || !this.checked.report.ok) return;
    const { city, request } = this.checked;
    const button = $("script-upload");
    button.disabled = true;
    try {
      const path = `/api/cues/${encodeURIComponent(city)}/script`;
      const answer = await this.page.api.call("PUT", path, request);
      this.page.say(t("ad_script_uploaded", { city: this.page.cityName(city), n: answer.count }), "ok");
      this.checked = null;
      $("script-file").value = "";
      $("script-report").hidden = true;
      $("script-file").focus();
    } catch (failure) {
      this.page.say(t("ad_failed", { message: failure.message }), "error");
    } finally {
      button.disabled = false;
    }
  }
}

/** A problem line, its FILE:LINE apart (in a <code>) from what is wrong. */
function problemItem(text) {
  const item = el("li");
  const match = /^(\S+?:\d+(?::\d+)?): (.*)$/s.exec(text);
  if (match) {
    item.append(el("code", "where", match[1]), ` ${match[2]}`);
  } else {
    item.textContent = text;
  }
  return item;
}
