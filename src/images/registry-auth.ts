/**
 * Registry credentials: which ones a pull uses, how they are encoded, and the
 * token exchange registries expect.
 *
 * Selection, most specific first ({@link selectCredentials}):
 * 1. the PullImage request's AuthConfig, unless its server_address names
 *    another registry (as containerd ignores it then). Within it:
 *    registry_token (a ready bearer token), identity_token (an OAuth2 refresh
 *    token to exchange), username + password, then `auth`
 *    (base64 "user:password", as in a Docker config.json);
 * 2. Images.Registries from the config for the image's registry (Docker Hub's
 *    aliases match each other, and portod's mirror.gcr.io matches too, since
 *    that is where portod sends docker.io pulls): AuthToken is sent as is,
 *    AuthPath + AuthService name a token service;
 * 3. anonymous.
 *
 * Encoding ({@link authorizationFor}), following the registry's
 * WWW-Authenticate challenge: Basic challenges get `Basic base64(user:pass)`;
 * Bearer challenges get a token from the realm (GET with Basic credentials, or
 * POST grant_type=refresh_token for identity tokens, as the Docker token spec
 * says), sent as `Bearer <token>`. A password itself is never sent as an
 * Authorization header (the Go portoshim did that). Tokens are requested for
 * every repository path portod may try, so the one token works for portod too.
 *
 * Secrets never leave this module in messages: errors name the realm and the
 * HTTP status, never a credential or a response body.
 */
import type { AuthConfig } from "../../gen/runtime/v1/api_pb.js";
import type { RegistryConfig } from "../config.js";
import { sameRegistry } from "./reference.js";
import type { HttpFetch } from "./registry-http.js";

/** Where credentials came from, for logs (never the credentials). */
export type CredentialSource = "request" | "config" | "anonymous";

/** The credentials a pull uses. */
export type Credentials =
  | { source: "request"; kind: "basic"; username: string; password: string }
  | { source: "request"; kind: "registry-token"; token: string }
  | { source: "request"; kind: "identity-token"; username: string; token: string }
  | { source: "config"; kind: "header"; host: string; value: string }
  | { source: "config"; kind: "token-service"; host: string; authPath?: string; authService?: string }
  | { source: "anonymous"; kind: "anonymous" };

/** Credentials the request carries that cannot be used. */
export class InvalidCredentialsError extends Error {
  override name = "InvalidCredentialsError";
}

/** A registry or token service refused or failed; `status` 0 when no HTTP answer came. */
export class RegistryAuthError extends Error {
  override name = "RegistryAuthError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** "request:basic", "config:header", "anonymous:anonymous": safe to log. */
export function describeCredentials(c: Credentials): string {
  return `${c.source}:${c.kind}`;
}

/**
 * Picks the credentials for a pull from `domain` (CRI spelling, e.g.
 * docker.io), which portod fetches from `portoHost` (e.g. mirror.gcr.io).
 * @throws InvalidCredentialsError for an `auth` field that is not base64 "user:password".
 */
export function selectCredentials(
  auth: AuthConfig | undefined,
  domain: string,
  portoHost: string,
  registries: readonly RegistryConfig[],
): Credentials {
  const fromRequest = auth ? requestCredentials(auth, domain, portoHost) : undefined;
  if (fromRequest) return fromRequest;
  const reg =
    registries.find((r) => r.host.toLowerCase() === domain.toLowerCase()) ??
    registries.find((r) => sameRegistry(r.host, domain)) ??
    registries.find((r) => sameRegistry(r.host, portoHost));
  if (reg?.authToken !== undefined) return { source: "config", kind: "header", host: reg.host, value: reg.authToken };
  if (reg && (reg.authPath !== undefined || reg.authService !== undefined)) {
    return { source: "config", kind: "token-service", host: reg.host, authPath: reg.authPath, authService: reg.authService };
  }
  return { source: "anonymous", kind: "anonymous" };
}

function requestCredentials(auth: AuthConfig, domain: string, portoHost: string): Credentials | undefined {
  if (auth.serverAddress !== "") {
    const host = serverHost(auth.serverAddress);
    if (!sameRegistry(host, domain) && !sameRegistry(host, portoHost)) return undefined;
  }
  if (auth.registryToken !== "") return { source: "request", kind: "registry-token", token: auth.registryToken };
  if (auth.identityToken !== "") {
    return { source: "request", kind: "identity-token", username: auth.username, token: auth.identityToken };
  }
  if (auth.username !== "") return { source: "request", kind: "basic", username: auth.username, password: auth.password };
  if (auth.auth !== "") {
    const { username, password } = decodeAuth(auth.auth);
    return { source: "request", kind: "basic", username, password };
  }
  return undefined;
}

/** The host of a server_address, which may be a bare host or a URL ("https://index.docker.io/v1/"). */
function serverHost(address: string): string {
  try {
    return new URL(address.includes("://") ? address : `https://${address}`).host;
  } catch {
    return address;
  }
}

/**
 * Decodes a Docker config.json `auth` value: base64 of "user:password".
 * Trailing NULs are dropped, as containerd does.
 * @throws InvalidCredentialsError (without the value) when it is not that.
 */
export function decodeAuth(auth: string): { username: string; password: string } {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(auth.trim())) throw new InvalidCredentialsError("auth is not valid base64");
  const text = Buffer.from(auth.trim(), "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) throw new InvalidCredentialsError('auth does not decode to "username:password"');
  return { username: text.slice(0, colon), password: text.slice(colon + 1).replace(/\0+$/, "") };
}

/** `Basic base64(user:password)`. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

/** One WWW-Authenticate challenge. Scheme in lower case, parameter names too. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate value (RFC 7235), which may hold several
 * challenges: `Bearer realm="https://a/token",service="r",scope="repository:x:pull"`.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipSpace = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  const token = () => {
    const m = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(s.slice(i));
    if (!m) return "";
    i += m[0].length;
    return m[0];
  };
  while (i < s.length) {
    skipSpace();
    if (s[i] === ",") {
      i++;
      continue;
    }
    const scheme = token();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skipSpace();
      const save = i;
      const name = token();
      skipSpace();
      // "name=" followed by "=", "," or the end is token68 ("abc=="), not a parameter.
      const token68 = name !== "" && s[i] === "=" && (i + 1 >= s.length || s[i + 1] === "=" || s[i + 1] === ",");
      if (!name || s[i] !== "=" || token68) {
        // Not a parameter. Right after the scheme it is token68 (which registries
        // don't use): skip it. Otherwise it starts the next challenge.
        if (token68 || (name !== "" && Object.keys(challenge.params).length === 0 && s[i] !== ",")) {
          while (i < s.length && s[i] !== ",") i++;
        } else i = save;
        break;
      }
      i++;
      skipSpace();
      let value = "";
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++;
      } else {
        value = token();
      }
      challenge.params[name.toLowerCase()] = value;
      skipSpace();
      if (s[i] === ",") {
        i++;
        // A comma may separate parameters or challenges: look ahead for "name=".
        const look = /^\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=/.exec(s.slice(i));
        if (!look) break;
      } else break;
    }
  }
  return out;
}

/** A token service request, built without I/O so tests can look at it. */
export interface TokenRequest {
  method: "GET" | "POST";
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * The token request for `credentials` against a Bearer challenge. The realm
 * and service are the challenge's, or the config's AuthPath / AuthService
 * when the registry entry names them. Credentials embedded in AuthPath
 * (`https://user:pass@auth/`) are sent as Basic, as portod does.
 */
export function tokenRequest(credentials: Credentials, challenge: Challenge, scopes: readonly string[]): TokenRequest {
  let realm = challenge.params.realm ?? "";
  let service = challenge.params.service;
  if (credentials.kind === "token-service") {
    realm = credentials.authPath ?? realm;
    service = credentials.authService ?? service ?? (credentials.authPath ? new URL(withScheme(credentials.authPath)).hostname : undefined);
  }
  if (realm === "") throw new RegistryAuthError("the registry asks for a bearer token but names no token service", 401);
  const url = new URL(withScheme(realm));
  const headers: Record<string, string> = {};
  if (url.username !== "" || url.password !== "") {
    headers.authorization = basicAuthorization(decodeURIComponent(url.username), decodeURIComponent(url.password));
    url.username = "";
    url.password = "";
  }
  if (credentials.kind === "identity-token") {
    const form = new URLSearchParams();
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", credentials.token);
    form.set("client_id", "portoshim");
    if (service) form.set("service", service);
    for (const s of scopes) form.append("scope", s);
    headers["content-type"] = "application/x-www-form-urlencoded";
    return { method: "POST", url: url.href, headers, body: form.toString() };
  }
  if (service) url.searchParams.set("service", service);
  for (const s of scopes) url.searchParams.append("scope", s);
  if (credentials.kind === "basic") headers.authorization = basicAuthorization(credentials.username, credentials.password);
  return { method: "GET", url: url.href, headers };
}

function withScheme(u: string): string {
  return u.includes("://") ? u : `https://${u}`;
}

/** Where a token request went, for messages: origin and path, never the query. */
function realmOf(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** Performs a token request and returns the token (`token` or `access_token`). */
export async function exchangeToken(http: HttpFetch, req: TokenRequest, signal?: AbortSignal): Promise<string> {
  let res;
  try {
    res = await http(req.url, { method: req.method, headers: req.headers, body: req.body, signal, maxBytes: 1024 * 1024 });
  } catch (err) {
    throw new RegistryAuthError(`token service ${realmOf(req.url)} cannot be reached: ${(err as Error).message}`, 0);
  }
  if (res.status !== 200) {
    throw new RegistryAuthError(`token service ${realmOf(req.url)} answered ${res.status}`, res.status);
  }
  let parsed: { token?: unknown; access_token?: unknown };
  try {
    parsed = JSON.parse(res.body.toString("utf8")) as typeof parsed;
  } catch {
    throw new RegistryAuthError(`token service ${realmOf(req.url)} answered with something other than JSON`, res.status);
  }
  const token = typeof parsed.token === "string" && parsed.token !== "" ? parsed.token : parsed.access_token;
  if (typeof token !== "string" || token === "") {
    throw new RegistryAuthError(`token service ${realmOf(req.url)} gave no token`, res.status);
  }
  return token;
}

/**
 * The Authorization header to send before any challenge was seen: only
 * credentials that are already a header value. Others wait for the registry
 * to say which scheme it wants.
 */
export function initialAuthorization(c: Credentials): string | undefined {
  if (c.kind === "header") return c.value;
  if (c.kind === "registry-token") return `Bearer ${c.token}`;
  return undefined;
}

/**
 * The Authorization header that answers `challenges` with `credentials`, or
 * undefined when there is nothing to answer with (anonymous against Basic).
 * Does the token exchange for Bearer challenges.
 */
export async function authorizationFor(
  http: HttpFetch,
  credentials: Credentials,
  challenges: readonly Challenge[],
  scopes: readonly string[],
  signal?: AbortSignal,
): Promise<string | undefined> {
  const ready = initialAuthorization(credentials);
  if (ready !== undefined) return ready;
  const bearer = challenges.find((c) => c.scheme === "bearer");
  if (bearer) return `Bearer ${await exchangeToken(http, tokenRequest(credentials, bearer, scopes), signal)}`;
  if (challenges.some((c) => c.scheme === "basic") && credentials.kind === "basic") {
    return basicAuthorization(credentials.username, credentials.password);
  }
  if (credentials.kind === "token-service") {
    // No Bearer challenge, yet the config names a token service: ask it anyway, as portod would.
    return `Bearer ${await exchangeToken(http, tokenRequest(credentials, { scheme: "bearer", params: {} }, scopes), signal)}`;
  }
  return undefined;
}

/** What portod's TDockerImagePullRequest gets for authentication. */
export interface PortoPullAuth {
  authToken?: string;
  authPath?: string;
  authService?: string;
}

/**
 * The authentication fields for portod. `obtained` is the header the shim's
 * own manifest request succeeded with, when it needed one.
 *
 * - request credentials: the obtained header; without one (the registry did
 *   not ask, or could not be reached) Basic for username/password and Bearer
 *   for a registry token. An identity token cannot be used without its
 *   exchange, which needs the registry's challenge.
 * - config AuthToken: as is (the operator wrote the header value).
 * - config AuthPath/AuthService: handed to portod, which does the exchange
 *   itself, as with the Go portoshim.
 * - anonymous: an anonymous bearer token, if the registry wanted one (portod
 *   would otherwise ask without, and be refused).
 */
export function portoPullAuth(credentials: Credentials, obtained: string | undefined): PortoPullAuth {
  switch (credentials.kind) {
    case "header":
      return { authToken: credentials.value };
    case "token-service":
      return { authPath: credentials.authPath, authService: credentials.authService };
    case "anonymous":
      return obtained !== undefined ? { authToken: obtained } : {};
    case "basic":
      return { authToken: obtained ?? basicAuthorization(credentials.username, credentials.password) };
    case "registry-token":
      return { authToken: obtained ?? `Bearer ${credentials.token}` };
    case "identity-token":
      if (obtained === undefined) {
        throw new RegistryAuthError("an identity token needs the registry's token service, which could not be reached", 0);
      }
      return { authToken: obtained };
  }
}

/** Every secret in `credentials` and in the header sent, for scrubbing portod's messages. */
export function secretsOf(credentials: Credentials, sent: PortoPullAuth): string[] {
  const out: string[] = [];
  const add = (s: string | undefined) => {
    if (s === undefined || s === "") return;
    out.push(s);
    // The part after the scheme is the secret a message may quote alone.
    const sp = s.indexOf(" ");
    if (sp > 0 && sp < s.length - 1) out.push(s.slice(sp + 1));
  };
  switch (credentials.kind) {
    case "basic":
      add(credentials.password);
      break;
    case "registry-token":
    case "identity-token":
      add(credentials.token);
      break;
    case "header":
      add(credentials.value);
      break;
    case "token-service":
      if (credentials.authPath) {
        try {
          add(decodeURIComponent(new URL(withScheme(credentials.authPath)).password));
        } catch {
          // no credentials in it
        }
      }
      break;
  }
  add(sent.authToken);
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/**
 * Removes secrets from a text that may quote them (portod's error messages
 * quote wget's command line, `--header=Authorization: Bearer ...` included).
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  // Headers first, so a scheme stays readable ("Bearer [REDACTED]") and what follows the value survives.
  let out = text.replace(
    /(authorization:\s*)(?:(basic|bearer|oauth|token|digest|negotiate)\s+)?(\S+)/gi,
    (_m, p: string, scheme: string | undefined) => `${p}${scheme ? `${scheme} ` : ""}[REDACTED]`,
  );
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("[REDACTED]");
  return out;
}
