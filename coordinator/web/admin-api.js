// The organiser's page's HTTP calls: every one with the admin token in an Authorization
// header (never in a URL), answers read as JSON, and error answers turned into one
// ApiFailure carrying the API's error fields (docs/protocol.md: code, message, field, problems).
//
// Downloads (the audit log, the report) are fetched the same way and saved from a Blob: a plain
// link could not send the header, and the token must not go in the URL.

/** An error answer of the API, or no answer at all (status 0: the network). */
export class ApiFailure extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || (status ? "invalid" : "network");
    this.field = (body && body.field) || null;
    this.problems = (body && body.problems) || [];
  }
}

export class Api {
  /**
   * @param {() => (string|null)} token  the admin token of this tab, read at each call
   * @param {(failure: ApiFailure) => void} onUnauthorized  the token stopped working (401)
   */
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  /** The raw Response of ``method path``; ``json`` is sent as a JSON body, ``body`` as is
   * (with ``type`` as its Content-Type). Throws ApiFailure for an error answer. */
  async fetch(method, path, { json, body, type } = {}) {
    const headers = { Authorization: `Bearer ${this.token() || ""}` };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (type) {
      headers["Content-Type"] = type;
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: "no-store" });
    } catch {
      throw new ApiFailure(0, null);
    }
    if (!response.ok) {
      let answer = null;
      try { answer = await response.json(); } catch { /* not the API's shape */ }
      const failure = new ApiFailure(response.status, answer);
      if (response.status === 401) this.onUnauthorized(failure);
      throw failure;
    }
    return response;
  }

  /** The JSON answer of ``method path`` (null for 204 No Content). */
  async call(method, path, options) {
    const response = await this.fetch(method, path, options);
    return response.status === 204 ? null : response.json();
  }

  /** Save the answer of ``GET path`` as a file named as the server says (else ``fallback``). */
  async download(path, fallback) {
    const response = await this.fetch("GET", path);
    const disposition = response.headers.get("content-disposition") || "";
    const named = /filename="?([^";]+)"?/.exec(disposition);
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = named ? named[1] : fallback;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}
