// The admin API, with the token from this tab's session storage (never in a URL).
const KEY = "der-gateway.admin-token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => (e.field ? `${e.field}: ${e.reason}` : e.reason)).join("; "));
    this.status = status;
    this.errors = errors;
  }
}

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token.get() || ""}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, [{ reason: `the server did not answer (${err.message})` }]);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const errors = data && Array.isArray(data.errors) ? data.errors : [{ reason: `${response.status} ${response.statusText}` }];
    if (response.status === 401) window.dispatchEvent(new CustomEvent("console:unauthorised", { detail: errors }));
    throw new ApiError(response.status, errors);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);

export function query(params) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") search.set(k, String(v));
  const s = search.toString();
  return s ? `?${s}` : "";
}
