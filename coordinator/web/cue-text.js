// Shared by the operator, display and follow pages: cue text as DOM nodes, which languages a
// screen shows, and which cue channel a page is on.
//
// A cue's text comes from the server's script reader (coordinator/scripts/markup.py): it may
// hold line breaks and the surtitler's <i>, <b> and <u> (lowercase, no attributes, as WebVTT
// has them). Those three become elements; &lt; &gt; &amp; stand for < > & (so a script can
// show a literal "<i>"); everything else, including any other tag, is shown as the literal
// text it is. Nothing here ever goes through innerHTML, so a script line cannot inject markup.

export const SAFE_TAGS = new Set(["i", "b", "u"]);
const TAG_RE = /<(\/?)([ibu])>/g;
const REFERENCE_RE = /&(lt|gt|amp);/g;
const REFERENCES = { lt: "<", gt: ">", amp: "&" };

/** Text outside the formatting tags, its three references read. */
function literalText(chunk) {
  return chunk.replace(REFERENCE_RE, (_, name) => REFERENCES[name]);
}

// As deep as the server lets a script nest them (coordinator/scripts/caps.py); deeper tags are
// dropped, their text shown flat: thousands of nested elements crash a renderer.
const MAX_DEPTH = 8;

/**
 * Append ``text`` to ``parent`` as text nodes, <br>s and <i>/<b>/<u> elements.
 * An unmatched closing tag is shown as text; a tag left open closes at the end of the cue.
 */
export function appendCueText(parent, text) {
  const stack = [parent];
  const dropped = {};
  const top = () => stack[stack.length - 1];
  const addText = (chunk) => {
    const lines = chunk.split(/\r\n|\r|\n/);
    lines.forEach((line, i) => {
      if (i > 0) top().append(document.createElement("br"));
      if (line) top().append(document.createTextNode(literalText(line)));
    });
  };
  let last = 0;
  for (const match of String(text).matchAll(TAG_RE)) {
    const [tag, closing, name] = match;
    addText(match.input.slice(last, match.index));
    last = match.index + tag.length;
    if (!closing && stack.length > MAX_DEPTH) {
      dropped[name] = (dropped[name] || 0) + 1;
      continue;
    }
    if (closing && dropped[name]) {
      dropped[name] -= 1;
      continue;
    }
    if (!closing) {
      const node = document.createElement(name);
      top().append(node);
      stack.push(node);
      continue;
    }
    const open = stack.findLastIndex((node, i) => i > 0 && node.localName === name);
    if (open > 0) stack.length = open; // close it (and anything opened inside it)
    else addText(tag);
  }
  addText(String(text).slice(last));
  return parent;
}

/** A cue's text as a DocumentFragment (see appendCueText). */
export function cueFragment(text) {
  return appendCueText(document.createDocumentFragment(), text);
}

/** The text without the formatting tags, line breaks as spaces: for titles and labels. */
export function cuePlainText(text) {
  return literalText(String(text).replace(TAG_RE, "").replace(/\s*[\r\n]+\s*/g, " ").trim());
}

/**
 * One block per language that has text: <div class="cue-line" lang="fr" data-lang="fr">.
 * A language whose text is "" (a deliberate blank cue) or missing shows nothing.
 */
export function cueBlocks(texts, languages) {
  const fragment = document.createDocumentFragment();
  for (const lang of languages) {
    const text = texts ? texts[lang] : "";
    if (!text) continue;
    const block = document.createElement("div");
    block.className = "cue-line";
    block.lang = lang;
    block.dataset.lang = lang;
    appendCueText(block, text);
    fragment.append(block);
  }
  return fragment;
}

/** Whether any of ``languages`` has text to show. */
export function hasText(texts, languages) {
  return Boolean(texts) && languages.some((lang) => Boolean(texts[lang]));
}

/**
 * The languages a surtitle screen shows, in order: the one rule of the projector, the phones
 * and the operator's "On screens now".
 *
 * ``preferences`` are lists of language codes, the first that names any language the script
 * has (``available``) wins, kept to those: the projector's ?lang=, then the city's configured
 * surtitle languages; a phone puts its reader's choice first. When none does, French if the
 * script has it, else the script's first language. With no script languages known, the first
 * non-empty preference as it is, else French.
 */
export function screenLanguages(available, preferences) {
  const script = available || [];
  const lists = preferences.filter((list) => list && list.length);
  if (!script.length) return lists.length ? [...lists[0]] : ["fr"];
  for (const list of lists) {
    const shown = list.filter((lang) => script.includes(lang));
    if (shown.length) return shown;
  }
  return [script.includes("fr") ? "fr" : script[0]];
}

/** A language's name in that language ("français", "English"), else the code. */
export function languageName(code) {
  try {
    const name = new Intl.DisplayNames([code], { type: "language" }).of(code);
    if (name && name !== code) return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
  } catch {
    // an unknown code: fall through
  }
  return code;
}

/** The city id from a page address like /display/paris. */
export function cityFromPath(prefix) {
  const rest = location.pathname.slice(prefix.length).replace(/\/+$/, "");
  return decodeURIComponent(rest);
}

/** Whether the address asks for the rehearsal channel: ?channel=rehearsal, on every page. */
export function rehearsalInAddress() {
  return new URLSearchParams(location.search).get("channel") === "rehearsal";
}

/**
 * The cue channel a projector or a phone shows: the city's live channel, or its rehearsal one
 * with ?channel=rehearsal. Both pages choose it, and its events, the same way: ``topic`` to
 * subscribe to, ``inSnapshot(msg)`` its public view in a snapshot (or null), ``owns(event)``
 * whether an event is a cue event of it.
 */
export function audienceChannel(cityId) {
  const rehearsal = rehearsalInAddress();
  return {
    rehearsal,
    topic: `${rehearsal ? "rehearsal" : "cues"}:${cityId}`,
    inSnapshot: (msg) => {
      const views = rehearsal ? msg.rehearsal : msg.cues;
      return views ? views[cityId] || null : null;
    },
    owns: (msg) => msg.kind === "cue" && msg.city === cityId &&
      (msg.channel === "rehearsal") === rehearsal,
  };
}

/** Whether this page was opened at a loopback address (127.0.0.1, localhost, ::1): one that
 * only this computer can open, so a QR code of it leads no phone anywhere. */
export function openedAtLoopback() {
  const host = location.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** The address of the city's phone page as phones should open it: from the event's
 * public_url when the config has one, else this page's own origin. */
export function followAddress(cityId, publicUrl, rehearsal) {
  const base = (publicUrl || location.origin).replace(/\/+$/, "");
  return `${base}/follow/${encodeURIComponent(cityId)}${rehearsal ? "?channel=rehearsal" : ""}`;
}

/** Keep the screen awake while the page is shown (a projector laptop, a phone held to follow
 * the reading). Best effort: browsers refuse it without a gesture or on battery saver. */
export async function keepAwake() {
  if (document.visibilityState !== "visible" || !navigator.wakeLock) return;
  try {
    await navigator.wakeLock.request("screen");
  } catch {
    // not allowed here: nothing to do
  }
}
