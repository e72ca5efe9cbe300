// The REST client: JSON in and out, the CSRF token on every cookie-authenticated write, typed errors.

let csrfToken = null;
let currentUser = null;

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** A network failure (server unreachable, offline), told apart from an HTTP error answer. */
export class NetworkError extends Error {}

export function user() {
  return currentUser;
}

function describe(status, body) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((p) => `${(p.loc || []).slice(1).join(".")}: ${p.msg}`).join("; ");
  }
  return `request failed with HTTP ${status}`;
}

/**
 * Call the API. Returns `{ status, body, etag }`; throws ApiError for 4xx/5xx and NetworkError when the
 * server could not be reached. `body` may be an object (sent as JSON) or FormData.
 */
export async function request(method, path, { body, headers = {}, signal, keepalive } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin", signal };
  if (keepalive) init.keepalive = true;
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  if (method !== "GET" && csrfToken) init.headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `/api/${path}`, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new NetworkError(`cannot reach the server (${err.message})`);
  }
  const text = response.status === 204 ? "" : await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { detail: text.slice(0, 500) };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && !path.includes("auth/login")) {
      currentUser = null;
      window.dispatchEvent(new CustomEvent("seglab:unauthorized"));
    }
    throw new ApiError(response.status, parsed, describe(response.status, parsed));
  }
  return { status: response.status, body: parsed, etag: response.headers.get("ETag") };
}

export const get = async (path, opts) => (await request("GET", path, opts)).body;
export const post = async (path, body, opts) => (await request("POST", path, { ...opts, body })).body;
export const patch = async (path, body, opts) => (await request("PATCH", path, { ...opts, body })).body;
export const del = async (path, opts) => (await request("DELETE", path, opts)).body;

/**
 * POST a FormData with upload progress (fetch cannot report it): `onProgress(fraction)` as bytes go out.
 * Resolves with the parsed JSON answer; rejects with ApiError / NetworkError like `request`.
 */
export function upload(path, form, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path.startsWith("/") ? path : `/api/${path}`);
    xhr.setRequestHeader("Accept", "application/json");
    if (csrfToken) xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.upload.addEventListener("progress", (e) => e.lengthComputable && onProgress(e.loaded / e.total));
    xhr.addEventListener("error", () => reject(new NetworkError("cannot reach the server (upload failed)")));
    xhr.addEventListener("abort", () => reject(new DOMException("upload cancelled", "AbortError")));
    xhr.addEventListener("load", () => {
      let parsed = null;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        parsed = { detail: xhr.responseText.slice(0, 500) };
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(parsed);
      if (xhr.status === 401) {
        currentUser = null;
        window.dispatchEvent(new CustomEvent("seglab:unauthorized"));
      }
      reject(new ApiError(xhr.status, parsed, describe(xhr.status, parsed)));
    });
    xhr.send(form);
  });
}

/** Who is logged in (null when nobody); keeps the CSRF token for later writes. */
export async function loadSession() {
  try {
    const session = await get("auth/me");
    csrfToken = session.csrf_token;
    currentUser = session.user;
    return currentUser;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      currentUser = null;
      return null;
    }
    throw err;
  }
}

export async function login(username, password) {
  const session = await post("auth/login", { username, password });
  csrfToken = session.csrf_token;
  currentUser = session.user;
  return currentUser;
}

export async function logout() {
  try {
    await post("auth/logout");
  } finally {
    csrfToken = null;
    currentUser = null;
  }
}

/** Version number from an ETag such as `"7"` or `W/"7"`. */
export function versionOf(etag) {
  const m = /"?(\d+)"?$/.exec(etag || "");
  return m ? Number(m[1]) : null;
}

export const paths = {
  project: (pid) => `projects/${pid}`,
  ontology: (pid) => `projects/${pid}/ontology`,
  images: (pid) => `projects/${pid}/images`,
  image: (pid, iid) => `projects/${pid}/images/${iid}`,
  imageFile: (pid, iid) => `/api/projects/${pid}/images/${iid}/file`,
  tiles: (pid, iid) => `projects/${pid}/images/${iid}/tiles`,
  tile: (pid, iid, level, column, row) => `/api/projects/${pid}/images/${iid}/tiles/${level}/${column}/${row}`,
  thumbnail: (pid, iid, size = 256) => `/api/projects/${pid}/images/${iid}/thumbnail?size=${size}`,
  annotations: (pid, iid) => `projects/${pid}/images/${iid}/annotations`,
  history: (pid, iid, v) => `projects/${pid}/images/${iid}/history/${v}`,
  status: (pid, iid) => `projects/${pid}/images/${iid}/status`,
  comments: (pid, iid) => `projects/${pid}/images/${iid}/comments`,
  queue: (pid) => `projects/${pid}/queue/next`,
  members: (pid) => `projects/${pid}/members`,
  member: (pid, uid) => `projects/${pid}/members/${uid}`,
  historyList: (pid, iid) => `projects/${pid}/images/${iid}/history`,
  reviews: (pid, iid) => `projects/${pid}/images/${iid}/reviews`,
  comment: (pid, iid, cid) => `projects/${pid}/images/${iid}/comments/${cid}`,
  formats: () => "formats",
  imports: (pid) => `projects/${pid}/imports`,
  importFolder: (pid) => `projects/${pid}/imports/folder`,
  importFolders: (pid) => `projects/${pid}/import-folders`,
  exports: (pid) => `projects/${pid}/exports`,
  jobs: (pid) => `projects/${pid}/jobs`,
  job: (pid, jid) => `projects/${pid}/jobs/${jid}`,
};
