// The sign-in of the staff consoles (/coordinator, /operator/CITY and /admin): one token, typed
// into the page's sign-in form or carried by an invite link, kept in this tab's sessionStorage
// (never in the address bar), sent in the websocket's hello, and forgotten on Sign out or when
// the server refuses it (unknown, or revoked while the console was open).
//
// An invite link is the console's address with `#token=TOKEN`: a fragment, which the browser
// never sends to a server (so no access log or proxy sees it). The page takes it at once,
// removes it from the address bar (and so from the history and a copied address), and signs in
// as with a typed token: a token of the wrong role is refused the same way.
//
// The page says who may use it (`refusal`) and what to forget on sign-out (`onSignOut`); the
// session owns the form, the Sign out button, the connection badge and the LiveClient. Each
// console keeps its own storage key, so a token saved by an earlier version of the page still
// signs in after a reload.
import { LiveClient } from "/static/client.js";
import { translator } from "/static/i18n.js";

/** The header's connection badge: its state (for the colour) and its word. */
export function showConnection(node, state, t = translator()) {
  node.dataset.state = state;
  node.textContent = t(`staff_conn_${state}`);
}

/** The console's message line: ``kind`` is "", "ok", "error" or "conflict" (its colour). */
export function say(node, text, kind = "") {
  node.textContent = text;
  node.className = `message ${kind}`;
}

/** The token of an invite link (``#token=…`` in the address), removed from the address bar
 * at once, path and query kept; null when the address carries none. */
export function takeInviteToken() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (!fragment.has("token")) return null;
  const token = (fragment.get("token") || "").trim();
  history.replaceState(history.state, "", location.pathname + location.search);
  return token || null;
}

// Taken when this module loads, before the page's script awaits anything (its dictionary):
// the token is in the address bar for no longer than it takes to parse the page's modules.
let invited = takeInviteToken();

export class Session {
  /**
   * @param {object} options
   * @param {string} options.storageKey  the sessionStorage key of this console's token
   * @param {{form: HTMLFormElement, token: HTMLInputElement, signOut: HTMLElement,
   *   console: HTMLElement, connection: HTMLElement}} options.nodes  the page's parts
   * @param {(welcome: object) => (string|null)} options.refusal  why this token may not use
   *   this console (the sign-in then shows it), or null
   * @param {() => void} [options.onStart]  a token is being tried (typed, from an invite
   *   link, or saved in the tab)
   * @param {(message: string) => void} options.onSignOut  forget what the page holds; the
   *   message ("" for Sign out) says why the sign-in form is back
   * @param {(key: string, vars?: object) => string} [options.t]  the page's translator (the
   *   refusals and the connection words: staff_not_valid, staff_revoked, staff_conn_*)
   * @param {object} options.client  the LiveClient options besides `token`: `onWelcome`
   *   gets `(msg, first)`, first being true for the first welcome of this sign-in; every
   *   callback of a client that was signed out since is dropped
   */
  constructor(options) {
    this.options = options;
    this.client = null;
    this.role = null; // the welcome's role, once the token was accepted
    this.generation = 0; // a sign-in or sign-out makes the old client's late callbacks harmless
    this.memory = null; // the token, where this browser refuses sessionStorage
    this.t = options.t || translator();
  }

  /** Wire the form and the Sign out button; sign in at once with an invite link's token
   * (which replaces one saved in this tab) or a token saved in this tab. The form comes
   * disabled in the page's HTML: until this runs, a token typed and sent would leave as a
   * plain form submission. */
  begin() {
    const { form, token, signOut } = this.options.nodes;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const typed = token.value.trim();
      token.value = "";
      if (typed) this.start(typed);
    });
    for (const field of form.elements) field.disabled = false;
    signOut.addEventListener("click", () => this.signOut());
    // An invite link opened in a tab already on this page changes the fragment only.
    window.addEventListener("hashchange", () => {
      const token = takeInviteToken();
      if (token) this.start(token);
    });
    const saved = invited || this.token();
    invited = null;
    if (saved) this.start(saved);
  }

  /** The token of this tab, or null. */
  token() {
    try {
      return sessionStorage.getItem(this.options.storageKey);
    } catch {
      return this.memory; // storage blocked: the token lasts while the page is open
    }
  }

  /** Whether ``generation`` (read when some work began) is still this sign-in. */
  current(generation) {
    return generation === this.generation && this.client !== null;
  }

  start(token) {
    this._keep(token);
    if (this.client) this.client.close();
    const mine = ++this.generation;
    const ours = (fn) => (...args) => { if (mine === this.generation && fn) fn(...args); };
    const page = this.options.client;
    this.role = null;
    if (this.options.onStart) this.options.onStart();
    this.client = new LiveClient({
      ...page,
      token: () => this.token(),
      onConnection: ours((state) => {
        showConnection(this.options.nodes.connection, state, this.t);
        if (page.onConnection) page.onConnection(state);
      }),
      onWelcome: ours((msg) => this._welcome(msg)),
      onSnapshot: ours(page.onSnapshot),
      onEvent: ours(page.onEvent),
      onReply: ours((msg) => this._reply(msg)),
    });
    this.client.connect();
  }

  /** Forget the token and the connection; the page shows its sign-in with ``message``. */
  signOut(message = "") {
    this.generation += 1;
    this._keep(null);
    if (this.client) this.client.close();
    this.client = null;
    this.role = null;
    this._show(false);
    showConnection(this.options.nodes.connection, "offline", this.t);
    this.options.onSignOut(message);
  }

  _welcome(msg) {
    const refused = this.options.refusal(msg);
    if (refused) {
      this.signOut(refused);
      return;
    }
    const first = this.role === null;
    this.role = msg.role;
    this._show(true);
    if (this.options.client.onWelcome) this.options.client.onWelcome(msg, first);
  }

  _reply(msg) {
    // `unauthorized` means the token does not work (docs/protocol.md): unknown, answered
    // before the first welcome, or revoked since. Either way nothing more can be done with it.
    if (msg.type === "error" && msg.code === "unauthorized") {
      this.signOut(this.t(this.role === null ? "staff_not_valid" : "staff_revoked"));
      return;
    }
    if (this.options.client.onReply) this.options.client.onReply(msg);
  }

  _show(signedIn) {
    const { form, signOut } = this.options.nodes;
    form.hidden = signedIn;
    this.options.nodes.console.hidden = !signedIn;
    signOut.hidden = !signedIn;
  }

  _keep(token) {
    this.memory = token;
    try {
      if (token) sessionStorage.setItem(this.options.storageKey, token);
      else sessionStorage.removeItem(this.options.storageKey);
    } catch {
      // storage blocked: kept in memory only
    }
  }
}
