/**
 * The plumbing of Sluice's HTTP server: JSON answers, bounded bodies, errors a client can act on
 * (400/404/405/413, never a stack trace), the token check, and the guards a loopback server needs
 * against other web pages (a POST must be JSON, an `Origin` must be the server's own, the `Host`
 * must name the server: no DNS rebinding).
 */
import { timingSafeEqual, createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** An answer the client caused: sent as `{ "error": message }` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** Request bodies are small JSON objects (trigger params); anything larger is refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The request's JSON body (an object), at most {@link MAX_BODY_BYTES}; an empty body is `{}`. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  const length = Number(req.headers["content-length"] ?? 0);
  if (length > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  // Only JSON: a cross-site form or `text/plain` POST cannot reach an action without a preflight.
  if (type !== "application/json") throw new HttpError(415, `send the body as application/json (got ${type || "no content-type"})`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `the body is not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new HttpError(400, "the body must be a JSON object");
  return value as Record<string, unknown>;
}

/** A whole number query parameter in [min, max], or `fallback` when absent. */
export function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = params.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return n;
}

/** A path segment that must be a positive id. */
export function idParam(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new HttpError(400, `${what} must be a positive whole number (got ${JSON.stringify(text)})`);
  return n;
}

/** Whether `host` is a loopback address (only this machine can connect). */
export function isLoopback(host: string): boolean {
  return host === "127.0.0.1" || host === "::1" || host === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Where a request may carry the token: `Authorization: Bearer`, or the cookie the page sets. */
export const TOKEN_COOKIE = "sluice_token";

/** The token a request carries, if any. */
export function tokenOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  const cookie = req.headers.cookie;
  if (cookie) {
    for (const part of cookie.split(";")) {
      const [name, ...value] = part.trim().split("=");
      if (name === TOKEN_COOKIE) return decodeURIComponent(value.join("="));
    }
  }
  return undefined;
}

/** Compares in constant time (hashes first, so lengths leak nothing either). */
export function sameToken(given: string | undefined, expected: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(expected));
}

/**
 * The `Host` header names this server (`127.0.0.1:7070`, `localhost:7070`, `[::1]:7070`) — checked
 * when it listens on loopback without a token, so a web page on another name that resolves to
 * 127.0.0.1 (DNS rebinding) cannot read the API.
 */
export function hostAllowed(header: string | undefined, port: number): boolean {
  if (!header) return false;
  const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  return allowed.includes(header.toLowerCase());
}
