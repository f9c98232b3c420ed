/**
 * mitata micro-benchmarks of the pieces on the request path, each against the simplest thing
 * that does the same job (the baseline of its group), so the report reads as ratios:
 *
 * - token verification: a verified-token cache hit, a cold jose HS256 verification;
 * - key decoding: `decodeKey` against `decodeURIComponent`, plain and percent-encoded UTF-8;
 * - response headers: ETag + Cache-Status + Age against constant strings;
 * - peer frames: encode, decode (strict walk + cbor-x) and schema check against JSON;
 * - ring lookup: owners(key, 2) on 3 and 10 nodes against the bare hash.
 *
 *   bun bench/hot_path.bench.ts          deno run -A bench/hot_path.bench.ts
 */
import { bench, do_not_optimize, group, run, summary } from "mitata";
import { SignJWT } from "jose";
import { ageSeconds, hitStatus } from "../src/api/cache_headers.ts";
import { createTokenVerifier } from "../src/auth/token_verifier.ts";
import { decodeFrameBody, encodeFrame } from "../src/cluster/frame_codec.ts";
import { parseFrame } from "../src/cluster/frames.ts";
import { createRing, hash32 } from "../src/cluster/ring.ts";
import type { StoredEntry } from "../src/core/entry.ts";
import { decodeKey } from "../src/core/key.ts";
import { formatEtag } from "../src/core/version.ts";

const secret = new TextEncoder().encode("bench-secret-that-is-at-least-32-bytes-long");
const token = await new SignJWT({ scope: "cache:read cache:write" }).setProtectedHeader({ alg: "HS256" }).setSubject("bench").setExpirationTime("1h").sign(secret);
const cached = createTokenVerifier({ secret }, {}, () => Date.now());
await cached.verify(token);
// A cache of one entry that is evicted by a second token on every call: always cold.
const cold = createTokenVerifier({ secret }, { cacheSize: 1 }, () => Date.now());
const other = await new SignJWT({ scope: "cache:read" }).setProtectedHeader({ alg: "HS256" }).setSubject("other").setExpirationTime("1h").sign(secret);

group("token verification", () => {
  summary(() => {
    bench("verified-token cache hit", async () => do_not_optimize(await cached.verify(token))).baseline();
    bench("cold jose HS256 verification", async () => {
      do_not_optimize(await cold.verify(token));
      do_not_optimize(await cold.verify(other));
    });
  });
});

group("key decoding", () => {
  summary(() => {
    bench("decodeURIComponent, plain key", () => do_not_optimize(decodeURIComponent("users/12345/profile"))).baseline();
    bench("decodeKey, plain key", () => do_not_optimize(decodeKey("users/12345/profile", 1024)));
    bench("decodeURIComponent, percent-encoded UTF-8", () => do_not_optimize(decodeURIComponent("caf%C3%A9/%E6%97%A5%E6%9C%AC")));
    bench("decodeKey, percent-encoded UTF-8", () => do_not_optimize(decodeKey("caf%C3%A9/%E6%97%A5%E6%9C%AC", 1024)));
  });
});

const entry: StoredEntry = {
  value: new Uint8Array(100),
  contentType: "application/octet-stream",
  version: { hlc: 1_837_000_000_000 * 1024 + 7, node: 2_166_136_261 },
  tags: [],
  storedAt: Date.now() - 5000,
  expiresAt: Date.now() + 60_000,
  size: 700,
};

group("response headers", () => {
  summary(() => {
    bench("constant strings", () => do_not_optimize(["\"etag\"", "edgecache; hit", "0"])).baseline();
    bench("ETag + Cache-Status + Age", () => {
      const now = Date.now();
      do_not_optimize([formatEtag(entry.version), hitStatus(entry, now), ageSeconds(entry, now)]);
    });
  });
});

const request = { t: "req" as const, id: 42, rid: "ab12cd34-1f", op: { op: "get" as const, key: "users/12345/profile" } };
const response = {
  t: "res" as const,
  id: 42,
  ok: true as const,
  body: { kind: "hit", entry: { k: "users/12345/profile", v: new Uint8Array(100), ct: "application/octet-stream", tags: [], hlc: 123456789, node: 42, sa: 1, ea: 0 } },
};
const requestBody = encodeFrame(request).subarray(4);
const responseBody = encodeFrame(response).subarray(4);
const requestJson = JSON.stringify(request);

group("peer frames", () => {
  summary(() => {
    bench("JSON round trip of a get request", () => do_not_optimize(JSON.parse(JSON.stringify(JSON.parse(requestJson))))).baseline();
    bench("encodeFrame(get request)", () => do_not_optimize(encodeFrame(request)));
    bench("decode + check a get request", () => do_not_optimize(parseFrame(decodeFrameBody(requestBody))));
    bench("encodeFrame(hit response, 100 B)", () => do_not_optimize(encodeFrame(response)));
    bench("decode + check a hit response, 100 B", () => do_not_optimize(parseFrame(decodeFrameBody(responseBody))));
  });
});

const small = createRing(["node-a", "node-b", "node-c"]);
const large = createRing(Array.from({ length: 10 }, (_, i) => `node-${i}`));
let counter = 0;
group("ring lookup", () => {
  summary(() => {
    bench("hash32(key)", () => do_not_optimize(hash32(`users/${counter++ % 100_000}`))).baseline();
    bench("owners(key, 2), 3 nodes", () => do_not_optimize(small.owners(`users/${counter++ % 100_000}`, 2)));
    bench("owners(key, 2), 10 nodes", () => do_not_optimize(large.owners(`users/${counter++ % 100_000}`, 2)));
  });
});

await run();
