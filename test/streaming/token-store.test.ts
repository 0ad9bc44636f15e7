import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TokenStore } from "../../src/streaming/token-store.js";

describe("TokenStore", () => {
  it("gives unguessable URL-safe tokens usable once, for their kind only", () => {
    const store = new TokenStore<string>();
    const t = store.insert("exec", "req");
    assert.match(t, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(store.consume("attach", t), undefined, "wrong kind");
    const u = store.insert("exec", "req2");
    assert.equal(store.consume("exec", u), "req2");
    assert.equal(store.consume("exec", u), undefined, "second use");
    assert.equal(store.consume("exec", "nope"), undefined);
  });

  it("expires unused tokens", () => {
    let now = 1000;
    const store = new TokenStore<string>({ ttlMs: 60_000, now: () => now });
    const t = store.insert("portforward", "r");
    now += 60_000;
    assert.equal(store.consume("portforward", t), undefined);
    store.insert("exec", "a");
    now += 60_001;
    store.insert("exec", "b");
    assert.equal(store.size, 1, "expired tokens are swept");
  });

  it("holds at most maxTokens, dropping the oldest", () => {
    const store = new TokenStore<number>({ maxTokens: 2 });
    const a = store.insert("exec", 1);
    const b = store.insert("exec", 2);
    const c = store.insert("exec", 3);
    assert.equal(store.consume("exec", a), undefined);
    assert.equal(store.consume("exec", b), 2);
    assert.equal(store.consume("exec", c), 3);
  });
});
