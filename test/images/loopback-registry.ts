/**
 * A tiny docker registry on 127.0.0.1 for tests: /v2/ manifests (OCI
 * manifests and indexes, served with Docker-Content-Digest), a token service
 * speaking the Docker token spec (GET with Basic credentials, POST with a
 * refresh token), or Basic auth, or none. It records every request it got,
 * Authorization headers included, so tests can see what was sent.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { HttpFetch } from "../../src/images/registry-http.js";
import { httpFetch } from "../../src/images/registry-http.js";

export type RegistryAuth =
  | { kind: "none" }
  | { kind: "basic"; username: string; password: string }
  /** Bearer via /token; `username`/`password` required for GET, `refreshToken` for POST; absent: anonymous tokens. */
  | { kind: "bearer"; username?: string; password?: string; refreshToken?: string; service?: string };

export interface SeenRequest {
  method: string;
  path: string;
  authorization?: string;
  body?: string;
}

export interface PushedImage {
  /** "sha256:<hex>" of the manifest. */
  manifest: string;
  /** "sha256:<hex>" of the config: portod's image id. */
  config: string;
  configJson: string;
  /** The manifest's bytes. */
  manifestJson: string;
}

export class LoopbackRegistry {
  readonly seen: SeenRequest[] = [];
  /** Tokens handed out, with the scopes they were asked for. */
  readonly tokens = new Map<string, string[]>();
  private readonly manifests = new Map<string, { body: string; type: string }>();
  private readonly tags = new Map<string, string>();
  /** Extra bearer tokens accepted as they are (registry tokens issued elsewhere). */
  readonly acceptedTokens = new Set<string>();
  private server!: Server;
  origin = "";

  constructor(public auth: RegistryAuth = { kind: "none" }) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** "127.0.0.1:<port>": the host part of references to this registry. */
  get host(): string {
    return this.origin.slice("http://".length);
  }

  /**
   * An HttpFetch sending every request, whatever its host (docker.io's
   * mirror.gcr.io, token realms), to this registry: tests never leave the machine.
   */
  get fetch(): HttpFetch {
    return (url, request) => {
      const u = new URL(url);
      return httpFetch(`${this.origin}${u.pathname}${u.search}`, request);
    };
  }

  /** Serves an image with `config` under `path:tag`; returns its digests. */
  addImage(path: string, tag: string, config: Record<string, unknown>, layers = 1): PushedImage {
    const configJson = JSON.stringify(config);
    const configDigest = digest(configJson);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: configJson.length },
      layers: Array.from({ length: layers }, (_, i) => ({
        mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
        digest: digest(`${configJson}:layer${i}`),
        size: 1000 + i,
      })),
    });
    const m = digest(manifest);
    this.manifests.set(`${path}@${m}`, { body: manifest, type: "application/vnd.oci.image.manifest.v1+json" });
    this.tags.set(`${path}:${tag}`, m);
    return { manifest: m, config: configDigest, configJson, manifestJson: manifest };
  }

  /** Serves an OCI index under `path:tag` with the given platform manifests (already added). */
  addIndex(path: string, tag: string, entries: Array<{ manifest: string; architecture: string; os?: string }>): string {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: entries.map((e) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: e.manifest,
        size: 1,
        platform: { architecture: e.architecture, os: e.os ?? "linux" },
      })),
    });
    const d = digest(body);
    this.manifests.set(`${path}@${d}`, { body, type: "application/vnd.oci.image.index.v1+json" });
    this.tags.set(`${path}:${tag}`, d);
    return d;
  }

  /** Makes `path:tag` serve different bytes under its (unchanged) digest: a lying registry. */
  corrupt(path: string, digestRef: string): void {
    const m = this.manifests.get(`${path}@${digestRef}`)!;
    this.manifests.set(`${path}@${digestRef}`, { ...m, body: m.body.replace("schemaVersion", "schemaVersion ") });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await new Promise<string>((resolve) => {
      let b = "";
      req.on("data", (c: Buffer) => (b += c.toString()));
      req.on("end", () => resolve(b));
    });
    const url = new URL(req.url ?? "/", this.origin);
    this.seen.push({ method: req.method ?? "", path: `${url.pathname}${url.search}`, authorization: req.headers.authorization, body: body || undefined });
    if (url.pathname === "/token") return this.token(req, url, body, res);
    const m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(url.pathname);
    if (!m) return send(res, url.pathname === "/v2/" ? 200 : 404, "{}");
    const [, path, ref] = m as unknown as [string, string, string];
    if (!this.authorized(req.headers.authorization, path)) return this.challenge(res, path);
    const d = ref.startsWith("sha256:") ? ref : this.tags.get(`${path}:${ref}`);
    const manifest = d ? this.manifests.get(`${path}@${d}`) : undefined;
    if (!manifest) return send(res, 404, JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN" }] }));
    res.setHeader("docker-content-digest", d!);
    send(res, 200, manifest.body, manifest.type);
  }

  private authorized(header: string | undefined, path: string): boolean {
    const a = this.auth;
    if (a.kind === "none") return true;
    if (a.kind === "basic") return header === `Basic ${Buffer.from(`${a.username}:${a.password}`).toString("base64")}`;
    const token = header?.startsWith("Bearer ") ? header.slice("Bearer ".length) : undefined;
    if (token === undefined) return false;
    if (this.acceptedTokens.has(token)) return true;
    return this.tokens.get(token)?.includes(`repository:${path}:pull`) ?? false;
  }

  private challenge(res: ServerResponse, path: string): void {
    const a = this.auth;
    res.setHeader(
      "www-authenticate",
      a.kind === "basic"
        ? 'Basic realm="loopback"'
        : `Bearer realm="${this.origin}/token",service="${a.kind === "bearer" ? (a.service ?? "loopback") : ""}",scope="repository:${path}:pull"`,
    );
    send(res, 401, JSON.stringify({ errors: [{ code: "UNAUTHORIZED" }] }));
  }

  private token(req: IncomingMessage, url: URL, body: string, res: ServerResponse): void {
    const a = this.auth;
    if (a.kind !== "bearer") return send(res, 404, "{}");
    let scopes: string[];
    if (req.method === "POST") {
      const form = new URLSearchParams(body);
      if (form.get("grant_type") !== "refresh_token" || form.get("refresh_token") !== a.refreshToken) return send(res, 401, "{}");
      scopes = form.getAll("scope");
    } else {
      if (a.username !== undefined) {
        const want = `Basic ${Buffer.from(`${a.username}:${a.password ?? ""}`).toString("base64")}`;
        if (req.headers.authorization !== want) return send(res, 401, "{}");
      }
      scopes = url.searchParams.getAll("scope");
    }
    const token = `tok-${randomBytes(6).toString("hex")}`;
    this.tokens.set(token, scopes);
    send(res, 200, JSON.stringify(req.method === "POST" ? { access_token: token } : { token }));
  }
}

function digest(text: string): string {
  return `sha256:${createHash("sha256").update(text).digest("hex")}`;
}

function send(res: ServerResponse, status: number, body: string, type = "application/json"): void {
  res.writeHead(status, { "content-type": type });
  res.end(body);
}
