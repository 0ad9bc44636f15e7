/**
 * One-time tokens for streaming URLs.
 *
 * Exec, Attach and PortForward answer with a URL; the client (kubelet,
 * crictl) then connects to it. The token in the URL is the only thing that
 * ties the connection to the CRI request, so it is unguessable (128 random
 * bits), usable once, and expires when nobody comes for it. Everything the
 * session does (container, command, stdio flags, ports) comes from the stored
 * request, never from the URL's query.
 */
import { randomBytes } from "node:crypto";

/** What kubelet's and containerd's request caches use: a minute. */
export const DEFAULT_TOKEN_TTL_MS = 60_000;
/** Tokens held at once; containerd's cache holds 1000 as well. */
export const DEFAULT_MAX_TOKENS = 1000;

export type StreamKind = "exec" | "attach" | "portforward";

interface Entry<T> {
  kind: StreamKind;
  request: T;
  expires: number;
}

export interface TokenStoreOptions {
  /** How long an unused token stays valid; default one minute. */
  ttlMs?: number;
  /** Most tokens held; the oldest is dropped to make room. Default 1000. */
  maxTokens?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Single-use tokens bound to a request of one kind. */
export class TokenStore<T = unknown> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(options: TokenStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.max = Math.max(1, options.maxTokens ?? DEFAULT_MAX_TOKENS);
    this.now = options.now ?? Date.now;
  }

  /** Stores `request` and returns a fresh URL-safe token for it. */
  insert(kind: StreamKind, request: T): string {
    this.sweep();
    // A Map iterates in insertion order, so the first key is the oldest.
    while (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    const token = randomBytes(16).toString("base64url");
    this.entries.set(token, { kind, request, expires: this.now() + this.ttlMs });
    return token;
  }

  /**
   * The request behind `token` if it exists, has not expired and is of
   * `kind`; the token is gone afterwards whatever the outcome, so a token is
   * never tried twice.
   */
  consume(kind: StreamKind, token: string): T | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    if (entry.kind !== kind || entry.expires <= this.now()) return undefined;
    return entry.request;
  }

  /** Tokens currently held (expired ones included until the next sweep). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops expired tokens; cheap because insertion order is expiry order. */
  private sweep(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) {
      if (entry.expires > now) break;
      this.entries.delete(token);
    }
  }
}
