// The dashboard's JSON API (client/web/api_routes.cc). A token, when the
// server asks for one, is kept in localStorage and sent as a bearer token.

const TOKEN_KEY = "expsvc-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

function headers() {
  const value = token();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

export async function get(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""));
  const url = `api/${path}${query.toString() ? `?${query}` : ""}`;
  const response = await fetch(url, { headers: headers() });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(response.status, `${url}: not JSON (${response.status})`);
  }
  if (!response.ok) throw new ApiError(response.status, body.error || `${url}: ${response.status}`);
  return body;
}

// A link that downloads with the token (a plain <a href> cannot send headers).
export async function download(path, fileName) {
  const response = await fetch(`api/${path}`, { headers: headers() });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(response.status, body.error || `download failed (${response.status})`);
  }
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = fileName;
  link.click();
  URL.revokeObjectURL(link.href);
}

export async function fetchBytes(path) {
  const response = await fetch(`api/${path}`, { headers: headers() });
  if (!response.ok) throw new ApiError(response.status, `api/${path}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

export async function post(path, body) {
  const response = await fetch(`api/${path}`, {
    method: "POST",
    headers: { ...headers(), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, answer.error || `api/${path}: ${response.status}`);
  return answer;
}
