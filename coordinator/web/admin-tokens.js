// The organiser's tokens (POST, GET /api/tokens, DELETE /api/tokens/ID): create one with its
// invite link and QR code, list those in force, revoke one after asking.
//
// A new token is shown once, inside its invite link, and never stored by this page: not in
// storage, not in the list (which the server answers without tokens); "Done" and signing out
// forget it.
import { fillCityMenu } from "/static/admin-cities.js";
import { el } from "/static/client.js";

const $ = (id) => document.getElementById(id);
const CITY_ROLES = new Set(["coordinator", "operator"]);

export class TokensSection {
  /** @param {object} page  {api, t(), cities(), cityName(id), say(text, kind), ask(title,
   *   text) → Promise<boolean>, when(iso) → text} */
  constructor(page) {
    this.page = page;
    this.tokens = [];
    this.invite = null; // the answer of the last creation, until "Done"
    $("new-role").addEventListener("change", () => this.roleChanged());
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.create();
    });
    $("invite-copy").addEventListener("click", () => this.copy());
    $("invite-done").addEventListener("click", () => this.forgetInvite(true));
  }

  /** The cities of the event, in the role's city menu. */
  setCities(cities) {
    fillCityMenu($("new-city"), cities, (id) => this.page.cityName(id));
    this.roleChanged();
  }

  roleChanged() {
    const needsCity = CITY_ROLES.has($("new-role").value);
    $("new-city-label").hidden = !needsCity;
    $("new-city").disabled = !needsCity;
  }

  async load() {
    const t = this.page.t();
    try {
      const answer = await this.page.api.call("GET", "/api/tokens");
      this.tokens = answer.tokens || [];
      $("token-list-note").textContent = this.tokens.length ? "" : t("ad_no_tokens");
    } catch (failure) {
      this.tokens = [];
      $("token-list-note").textContent = t("ad_failed", { message: failure.message });
    }
    this.render();
  }

  async create() {
    const t = this.page.t();
    const role = $("new-role").value;
    const body = { role };
    if (CITY_ROLES.has(role)) body.city = $("new-city").value;
    const label = $("new-label").value.trim();
    if (label) body.label = label;
    $("token-error").textContent = "";
    $("token-create").disabled = true;
    try {
      this.showInvite(await this.page.api.call("POST", "/api/tokens", { json: body }));
      $("new-label").value = "";
      this.page.say(t("ad_token_created"), "ok");
    } catch (failure) {
      $("token-error").textContent = t("ad_failed", { message: failure.message });
    } finally {
      $("token-create").disabled = false;
    }
    await this.load();
  }

  showInvite(made) {
    this.invite = made;
    this.drawInvite();
    $("invite").hidden = false;
    $("invite-url").value = made.invite_url;
    $("invite-title").focus();
  }

  drawInvite() {
    const made = this.invite;
    if (!made) return;
    const t = this.page.t();
    $("invite-for").textContent = t("ad_invite_for", { who: this.describe(made) });
    const qr = $("invite-qr");
    qr.hidden = !made.invite_qr_svg;
    if (made.invite_qr_svg) {
      qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(made.invite_qr_svg)}`;
    }
    qr.alt = t("ad_invite_qr", { who: this.describe(made) });
  }

  /** Forget the shown link (and its token) for good; ``focus`` moves on to the form. */
  forgetInvite(focus = false) {
    this.invite = null;
    $("invite-url").value = "";
    $("invite-qr").removeAttribute("src");
    $("invite").hidden = true;
    if (focus) $("new-role").focus();
  }

  async copy() {
    const t = this.page.t();
    const url = $("invite-url").value;
    try {
      await navigator.clipboard.writeText(url);
    } catch {
      // No clipboard access (an insecure origin, a refused permission): select it to copy.
      $("invite-url").select();
      this.page.say(t("ad_copy_by_hand"), "");
      return;
    }
    this.page.say(t("ad_copied"), "ok");
  }

  /** "City coordinator, Toronto (Amira)". */
  describe(token) {
    const t = this.page.t();
    const parts = [t(`ad_role_${token.role}`)];
    if (token.city) parts.push(this.page.cityName(token.city));
    const who = parts.join(", ");
    return token.label ? `${who} (${token.label})` : who;
  }

  render() {
    const t = this.page.t();
    // The list is redrawn every few seconds (last used): a focused Revoke button stays focused.
    const focused = document.activeElement && document.activeElement.closest("#token-list tr");
    $("token-list").replaceChildren(...this.tokens.map((token) => {
      const row = el("tr");
      row.dataset.id = token.id;
      const cells = [
        t(`ad_role_${token.role}`),
        token.city ? this.page.cityName(token.city) : "–",
        token.label || "–",
        this.page.when(token.created_utc) || "–",
        this.page.when(token.last_used_utc) || t("ad_never"),
      ];
      cells.forEach((text, i) => {
        const cell = el("td", ["role", "city", "label", "created", "last-used"][i], text);
        row.append(cell);
      });
      const revoke = el("button", "danger small", t("ad_revoke"));
      revoke.type = "button";
      revoke.setAttribute("aria-label", t("ad_revoke_named", { who: this.describe(token) }));
      revoke.addEventListener("click", () => this.revoke(token));
      const actions = el("td", "actions-cell");
      actions.append(revoke);
      row.append(actions);
      return row;
    }));
    if (focused) this.focusRevoke(focused.dataset.id);
    this.drawInvite();
  }

  focusRevoke(id) {
    const row = [...$("token-list").rows].find((r) => r.dataset.id === id);
    if (row) row.querySelector("button").focus();
    else $("tokens-title").focus();
  }

  async revoke(token) {
    const t = this.page.t();
    const who = this.describe(token);
    const yes = await this.page.ask(t("ad_revoke_title", { who }), t("ad_revoke_text"));
    if (!yes) {
      this.focusRevoke(token.id);
      return;
    }
    try {
      await this.page.api.call("DELETE", `/api/tokens/${encodeURIComponent(token.id)}`);
      this.page.say(t("ad_revoked", { who }), "ok");
    } catch (failure) {
      this.page.say(t("ad_failed", { message: failure.message }), "error");
    }
    await this.load();
    $("tokens-title").focus();
  }
}
