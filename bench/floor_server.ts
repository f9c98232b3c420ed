/**
 * The floor edgecache is compared against: Hono on Bun serving `/v1/kv/:key` from a `Map`, with
 * no auth, no metrics and no logging. `bun bench/floor_server.ts` listens on EDGECACHE_LISTEN
 * (default 127.0.0.1:8090); PUT stores, GET returns the value. With FLOOR=raw it is plain
 * `Bun.serve` without Hono.
 */
import { Hono } from "hono";

declare const Bun: any;
declare const process: { env: Record<string, string | undefined> };

const [host, port] = (process.env.EDGECACHE_LISTEN ?? "127.0.0.1:8090").split(":");
const values = new Map<string, Uint8Array>();

if (process.env.FLOOR === "raw") {
  Bun.serve({
    hostname: host,
    port: Number(port),
    async fetch(request: Request) {
      const key = new URL(request.url).pathname.slice(7);
      if (request.method === "PUT") {
        values.set(key, new Uint8Array(await request.arrayBuffer()));
        return new Response(null, { status: 201 });
      }
      const value = values.get(key);
      return value === undefined ? new Response("not found", { status: 404 }) : new Response(value as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/octet-stream" } });
    },
  });
} else {
  const app = new Hono();
  app.get("/v1/kv/:key", (c) => {
    const value = values.get(c.req.param("key"));
    return value === undefined ? c.text("not found", 404) : c.body(value as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" });
  });
  app.put("/v1/kv/:key", async (c) => {
    values.set(c.req.param("key"), new Uint8Array(await c.req.arrayBuffer()));
    return c.body(null, 201);
  });
  Bun.serve({ hostname: host, port: Number(port), fetch: app.fetch });
}
