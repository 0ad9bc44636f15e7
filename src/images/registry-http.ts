/**
 * The small HTTP client the shim uses to talk to registries itself (manifest
 * digests, token exchange). portod does the actual pull; these requests only
 * tell the shim what portod will fetch.
 *
 * Trust: the host's CA store (/etc/ssl/certs) is added to Node's bundled
 * roots, as Go programs (containerd, the Go portoshim) and wget (portod's
 * layer downloads) trust it; a registry with a private CA installed on the
 * host must work for us too, not only for portod.
 *
 * Redirects are followed (token services and CDNs use them), at most five;
 * the Authorization header is dropped when a redirect leaves the host, so a
 * registry credential never reaches a CDN.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";

/** One request. */
export interface HttpRequest {
  method: "GET" | "HEAD" | "POST";
  headers?: Record<string, string | string[]>;
  body?: string;
  /** Deadline of the whole exchange, redirects included. */
  timeoutMs?: number;
  /** Larger bodies are refused (manifests are at most a few MiB). */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** A response with its whole body. */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

/** Sends one request; rejects only when no HTTP answer came (network, TLS, timeout, size). */
export type HttpFetch = (url: string, request: HttpRequest) => Promise<HttpResponse>;

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
const MAX_REDIRECTS = 5;
/** Debian/Ubuntu, then RHEL/Fedora, then Alpine/SUSE bundle locations. */
const SYSTEM_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem"];

let trusted: string[] | undefined;

/** Node's roots plus the host's bundle, read once. */
function trustedCas(): string[] {
  if (trusted) return trusted;
  const cas = [...rootCertificates];
  for (const file of SYSTEM_BUNDLES) {
    try {
      cas.push(readFileSync(file, "utf8"));
      break;
    } catch {
      // next candidate
    }
  }
  trusted = cas;
  return cas;
}

/** The default HttpFetch: node:http(s) with the host's CA store. */
export const httpFetch: HttpFetch = async (url, request) => {
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;
  let current = new URL(url);
  let headers = { ...(request.headers ?? {}) };
  let method = request.method;
  let body = request.body;
  for (let hop = 0; ; hop++) {
    const res = await once(current, { ...request, method, headers, body }, signal);
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && res.status !== 304 && location) {
      if (hop >= MAX_REDIRECTS) throw new Error(`too many redirects from ${url}`);
      const next = new URL(location, current);
      if (next.host !== current.host || next.protocol !== current.protocol) {
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = "GET";
        body = undefined;
      }
      current = next;
      continue;
    }
    return res;
  }
};

function once(url: URL, req: HttpRequest, signal: AbortSignal): Promise<HttpResponse> {
  const maxBytes = req.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise((resolve, reject) => {
    const options = {
      method: req.method,
      headers: { "user-agent": "portoshim", ...(req.headers ?? {}) },
      signal,
    };
    const onResponse = (res: import("node:http").IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          res.destroy(new Error(`response from ${url.origin}${url.pathname} is larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url: url.href }));
      res.on("error", reject);
    };
    const r =
      url.protocol === "https:"
        ? httpsRequest(url, { ...options, ca: trustedCas() }, onResponse)
        : url.protocol === "http:"
          ? httpRequest(url, options, onResponse)
          : undefined;
    if (!r) return reject(new Error(`unsupported URL scheme ${url.protocol}`));
    r.on("error", (err) => reject(signal.aborted && signal.reason instanceof Error ? signal.reason : err));
    r.end(req.body);
  });
}

/** A header's single value (the first, when repeated). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
