// What the surtitle operator's console draws, from its ConsoleState (operator-state.js): the
// position and its badges, the Current / Next / Previous cards, "On screens now" (exactly what
// the audience sees, in the projector's languages), the banners of following and freezing, the
// follow tools and the script list. Reads the state, never changes what it knows (but which
// rows of the list it has drawn). Every word comes from the state's translator (`state.t`).
import { el } from "/static/client.js";
import { cueBlocks, cuePlainText, hasText } from "/static/cue-text.js";

const $ = (id) => document.getElementById(id);

/** "cue 12", or "before the first cue" for 0. */
function cueOrStart(state, index) {
  return index === 0 ? state.t("op_before_first") : state.t("op_cue", { n: index });
}

function fillTexts(state, node, texts, langs = state.languages) {
  node.replaceChildren();
  if (!texts || !hasText(texts, state.languages)) {
    node.append(el("p", "empty", texts ? state.t("op_blank_cue") : "—"));
    return;
  }
  const blocks = cueBlocks(texts, hasText(texts, langs) ? langs : state.languages);
  for (const block of blocks.children) {
    block.prepend(el("span", "lang-tag", block.dataset.lang.toUpperCase()));
  }
  node.append(blocks);
}

function fillNotes(state, node, notes) {
  node.dataset.label = state.t("op_note"); // shown before the note (surtitles.css)
  node.textContent = notes || "";
  node.hidden = !notes;
}

export function render(state) {
  const { view } = state;
  document.body.dataset.connection = state.live ? "live" : "offline";
  document.body.dataset.mode = state.mode;
  renderMode(state);
  const leader = state.following();
  const off = !state.live || !view || Boolean(leader);
  for (const id of ["go", "back", "blank", "freeze"]) $(id).disabled = off;
  $("jump").querySelector("button").disabled = off;
  document.body.classList.toggle("is-following", Boolean(leader));
  document.body.classList.toggle("is-frozen", Boolean(view && view.frozen));
  renderTools(state);
  if (!view) return;
  $("go").disabled = off || view.index >= view.count;
  $("back").disabled = off || view.index <= 0;
  renderPosition(state, view, leader);
  renderBanners(state);
  renderCards(state, view, leader);
  renderScreens(state);
  renderList(state);
}

/** Where the pointer is, and the badges and toggles that say blank and frozen. */
function renderPosition(state, view, leader) {
  const { t } = state;
  const { index, count, blank } = view;
  const frozen = Boolean(view.frozen);
  $("jump-to").max = String(count);
  $("position-note").hidden = !leader && !frozen;
  $("position-note").textContent = t(leader ? "op_pos_following" : "op_pos_frozen");
  $("position").textContent = index === 0
    ? t("op_position_start", { count })
    : t("op_position", { index, count });
  $("blank-badge").hidden = !blank;
  $("blank-badge").textContent = t(frozen || leader ? "op_blank_when_shown" : "op_blank_dark");
  $("blank").textContent = t(blank ? "op_unblank" : "op_blank");
  $("blank").setAttribute("aria-pressed", String(blank));
  document.body.classList.toggle("is-blank", blank);
  $("frozen-badge").hidden = !frozen;
  $("freeze").textContent = t(frozen ? "op_release" : "op_freeze");
  $("freeze").setAttribute("aria-pressed", String(frozen));
}

/** The Current, Next and Previous cards: the operator's own pointer. */
function renderCards(state, view, leader) {
  const { index, count } = view;
  const { t } = state;
  $("current-label").textContent = index >= 1 ? state.cueName(index) : t("op_nothing_yet");
  // The projected language is in the "On screens now" box: here, what is read aloud.
  const spoken = state.languages.filter((lang) => !state.projected().includes(lang));
  fillTexts(state, $("current-text"), index >= 1 ? view.text : null,
    spoken.length ? spoken : state.languages);
  fillNotes(state, $("current-notes"), index >= 1 ? view.notes : "");

  const hasNext = index < count;
  $("next-heading").textContent = t(leader ? "op_next_own" : view.frozen ? "op_next_frozen" : "op_next");
  $("next-label").textContent = hasNext ? state.cueName(index + 1) : t("op_end");
  fillTexts(state, $("next-text"), hasNext ? view.next : null);
  fillNotes(state, $("next-notes"), hasNext ? view.next_notes : "");

  const prev = index >= 2 ? state.script.get(index - 1) : null;
  $("prev-label").textContent = index >= 2 ? state.cueName(index - 1) : "";
  fillTexts(state, $("prev-text"), prev ? prev.text : null);
  if (index >= 2 && !prev) $("prev-text").firstChild.textContent = t("op_not_known");
}

/** Exactly what the audience of this channel sees now (the server's `shown`): the frozen
 * cue while frozen, the followed city's cue while following, else the pointer. */
function renderScreens(state) {
  const { view, t } = state;
  const box = $("screens");
  const leader = state.following();
  const shown = state.shownNow();
  const langs = state.shownLanguages();
  const followers = state.mode === "live" ? state.followerNames() : [];
  const where = state.mode === "rehearsal" ? t("op_screens_rehearsal")
    : followers.length ? t("op_screens_and", { cities: followers.join(", ") }) : t("op_screens");
  const cue = cueOrStart(state, shown.index);
  $("screens-title").textContent = leader
    ? t("op_screens_following", { where, city: state.nameOf(leader), cue })
    : view.frozen ? t("op_screens_frozen", { where, cue }) : where;
  $("screens-langs").textContent = langs.length ? `(${langs.join(", ")})` : "";
  box.dataset.frozen = String(Boolean(view.frozen));
  box.dataset.following = String(Boolean(leader));
  const [seen, ...nodes] = screensContent(state, shown, langs, !view.frozen && !leader);
  $("screens-text").replaceChildren(...nodes);
  box.dataset.state = seen;
}

/** What the screens show, as [state, ...nodes]; ``unblankHere``: Unblank acts on what the
 * screens show (not frozen, not following), so the box can say what it brings back. */
function screensContent(state, shown, langs, unblankHere) {
  const { view, t } = state;
  if (!state.live) return ["unknown", el("p", "", t("op_not_connected"))];
  if (shown.index === 0) {
    return shown.blank ? ["blank", el("p", "", t("op_nothing_blank"))]
      : ["waiting", el("p", "", t("op_nothing_qr"))];
  }
  if (shown.blank) {
    const dark = el("p", "", t("op_nothing_blank"));
    if (!unblankHere || !hasText(view.text, langs)) return ["blank", dark];
    const after = el("div", "after-unblank");
    after.append(el("p", "", t("op_unblank_shows")), cueBlocks(view.text, langs));
    return ["blank", dark, after];
  }
  if (!hasText(shown.text, langs)) return ["empty", el("p", "", t("op_nothing_blank_cue"))];
  return ["text", cueBlocks(shown.text, langs)];
}

/** The header's Live / Rehearsal switch, and the page's title. */
export function renderMode(state) {
  for (const button of $("mode").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === state.mode));
  }
  const display = `/display/${encodeURIComponent(state.cityId)}`;
  $("go-mode").hidden = state.mode !== "rehearsal";
  $("rehearsal-banner").hidden = state.mode !== "rehearsal";
  $("rehearsal-link").href = `${display}?channel=rehearsal`;
  $("rehearsal-link").textContent = `${display}?channel=rehearsal`;
  $("live-display-link").href = display;
  $("live-display-link").textContent = display;
  $("rehearsal-display-link").href = `${display}?channel=rehearsal`;
  $("rehearsal-display-link").textContent = `${display}?channel=rehearsal`;
  const title = `${state.t("op_page_title", { city: state.cityId })} — My Hour`;
  document.title = state.mode === "rehearsal" ? state.t("op_rehearsal_prefix", { title }) : title;
}

/** Following and frozen: what the screens do, and the one button that undoes it. */
function renderBanners(state) {
  const { view, t } = state;
  const leader = state.following();
  $("follow-banner").hidden = !leader;
  if (leader) {
    const [here, there] = [state.nameOf(state.cityId), state.nameOf(leader)];
    $("follow-title").textContent = t("op_following_title", { city: there.toUpperCase() });
    $("follow-text").textContent = t("op_following_text", {
      here, there, cue: cueOrStart(state, state.shownNow().index),
      back: view.index === 0 ? t("op_back_to_start") : t("op_back_to_cue", { n: view.index }),
    });
  }
  const frozen = Boolean(view.frozen) && !leader;
  $("frozen-banner").hidden = !frozen;
  if (frozen) {
    const shown = state.shownNow();
    const blankly = (cue, blank) => (blank ? t("op_blank_suffix", { cue }) : cue);
    $("frozen-text").textContent = t("op_frozen_text", {
      held: blankly(cueOrStart(state, shown.index), shown.blank),
      at: blankly(cueOrStart(state, view.index), view.blank),
    });
  }
}

/** Follow another city / who follows us / take back control. */
export function renderTools(state) {
  const { t } = state;
  const here = state.nameOf(state.cityId);
  $("tools-title").textContent = t("op_tools_title", { city: here });
  const rehearsal = state.mode === "rehearsal";
  $("follow-tools").hidden = rehearsal;
  $("rehearsal-tools").hidden = !rehearsal;
  const leader = state.views.live ? state.views.live.follows : null;
  const followers = state.followerNames();
  $("followers").hidden = !followers.length;
  $("followers").textContent = followers.length
    ? t(followers.length > 1 ? "op_followers_many" : "op_followers_one", { cities: followers.join(", "), here })
    : "";
  const candidates = [...state.others.keys()].filter((id) => id !== state.cityId)
    .sort((a, b) => state.nameOf(a).localeCompare(state.nameOf(b)));
  const target = renderFollowTargets(state, candidates, leader);
  const there = state.nameOf(target);
  const blocked = !candidates.length ? t("op_no_other")
    : followers.length ? t("op_cannot_follow", { here })
      : leader ? t("op_follows_now", { here, there: state.nameOf(leader) })
        : !target ? t("op_all_follow") : "";
  const offline = !state.live || !state.views.live;
  $("follow").disabled = offline || Boolean(blocked);
  $("follow-target").disabled = offline || Boolean(followers.length) || Boolean(leader) ||
    !candidates.length;
  $("follow").textContent = target && !blocked ? t("op_follow_city", { city: there }) : t("op_follow");
  $("follow-help").textContent = blocked || t("op_follow_help", { here, there });
}

/** The "Follow another city" choices (one that follows another, or ours, greyed out); the
 * chosen one if it can be followed, else "". */
function renderFollowTargets(state, candidates, leader) {
  const select = $("follow-target");
  const wanted = select.value;
  const options = candidates.map((id) => {
    const chain = state.others.get(id).follows;
    const name = chain
      ? state.t("op_option_follows", { city: state.nameOf(id), leader: state.nameOf(chain) })
      : state.nameOf(id);
    const option = el("option", "", name);
    option.value = id;
    option.disabled = Boolean(chain) || id === leader;
    return option;
  });
  const key = options.map((o) => `${o.value}:${o.textContent}:${o.disabled}`).join("|");
  if (select.dataset.key !== key) {
    select.dataset.key = key;
    select.replaceChildren(...options);
    const keep = options.find((o) => o.value === wanted && !o.disabled) ||
      options.find((o) => !o.disabled) || options[0];
    if (keep) keep.selected = true; // even a greyed-out one: an empty box would say nothing
  }
  return select.value && !select.selectedOptions[0]?.disabled ? select.value : "";
}

/** The script list: one row per cue (0 too), the pointer's row marked and in view, and
 * while frozen the row the screens hold. */
function renderList(state) {
  const { view } = state;
  const list = $("script-list");
  if (state.listCount !== view.count) {
    state.listCount = view.count;
    state.listIndex = -1;
    list.replaceChildren(...Array.from({ length: view.count + 1 }, (_, i) => listRow(i)));
    for (let i = 0; i <= view.count; i++) updateRow(state, i);
  }
  const held = view.frozen && !state.following() ? String(state.shownNow().index) : "";
  if (list.dataset.shown !== held) {
    for (const item of list.querySelectorAll("[data-shown]")) delete item.dataset.shown;
    const row = held ? list.querySelector(`li[data-index="${held}"]`) : null;
    if (row) row.dataset.shown = "true";
    list.dataset.shown = held;
  }
  if (state.listIndex !== view.index) {
    for (const row of list.querySelectorAll("[aria-current]")) row.removeAttribute("aria-current");
    const row = list.querySelector(`li[data-index="${view.index}"]`);
    if (row) {
      row.setAttribute("aria-current", "step");
      const top = row.offsetTop - list.offsetTop - list.clientHeight / 3;
      list.scrollTop = Math.max(0, top);
    }
    state.listIndex = view.index;
  }
}

function listRow(index) {
  const item = el("li");
  item.dataset.index = String(index);
  const button = el("button", "cue-row");
  button.type = "button";
  button.dataset.index = String(index);
  item.append(button);
  return item;
}

export function updateRow(state, index) {
  const button = $("script-list").querySelector(`button[data-index="${index}"]`);
  if (!button) return;
  const cue = state.script.get(index);
  button.replaceChildren();
  const number = el("span", "row-n", String(index));
  button.append(number);
  const body = el("span", "row-text");
  const { t } = state;
  if (index === 0) {
    body.append(el("span", "muted", t("op_row_start")));
  } else if (!cue) {
    body.append(el("span", "muted", t("op_row_not_loaded")));
  } else if (!hasText(cue.text, state.languages)) {
    body.append(el("span", "muted", t("op_row_blank")));
  } else {
    body.append(cueBlocks(cue.text, state.languages));
  }
  if (cue && cue.label && cue.label !== String(index)) {
    number.append(el("span", "row-label", cue.label));
  }
  if (cue && cue.notes) body.append(el("span", "row-notes", cue.notes));
  button.append(body);
  const plain = cue ? cuePlainText(cue.text[state.languages[0]] || "") : "";
  button.setAttribute("aria-label", plain ? t("op_row_aria_text", { index, text: plain }) : t("op_row_aria", { index }));
}
