/**
 * HTTP helpers for multi-process cluster tests: key reads and writes, admin views and metrics of
 * one member, and a launcher that remembers every process it starts so `after` hooks can kill
 * them all even when a test or a `before` hook failed half-way.
 */
import type { ClusterMember } from "./cluster_harness.ts";
import { startMember } from "./cluster_harness.ts";

/** Anything with a running node's base URL. */
export interface HasUrl {
  process: { url: string };
}

/** PUTs `value` at `key`; returns the status and the ETag. */
export async function put(
  member: HasUrl,
  token: string,
  key: string,
  value: string,
): Promise<{ status: number; etag: string | null; body: string }> {
  const response = await fetch(`${member.process.url}/v1/kv/${key}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
    body: value,
  });
  return { status: response.status, etag: response.headers.get("etag"), body: await response.text() };
}

/** GETs `key`; returns the status, the body and the response headers. */
export async function get(
  member: HasUrl,
  token: string,
  key: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(`${member.process.url}/v1/kv/${key}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** GETs an admin or health path and parses its JSON. */
export async function getJson(
  member: HasUrl,
  token: string | undefined,
  path: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${member.process.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, json: await response.json() as Record<string, unknown> };
}

/** A member as `/v1/admin/cluster` lists it. */
export interface ClusterMemberView {
  id: string;
  state: string;
  peer_address: string;
  http_address: string;
  ownership: number;
}

/** `/v1/admin/cluster` of a member. */
export async function clusterOf(
  member: HasUrl,
  token: string,
): Promise<{ mode: string; members: ClusterMemberView[] } & Record<string, unknown>> {
  const { json } = await getJson(member, token, "/v1/admin/cluster");
  return json as { mode: string; members: ClusterMemberView[] } & Record<string, unknown>;
}

/** The samples of `/metrics`, keyed by `name{labels}` exactly as printed (labels in prom-client's order). */
export async function metricsOf(member: HasUrl): Promise<Map<string, number>> {
  const text = await (await fetch(`${member.process.url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Starts members and remembers each one, so `killAll` can stop every process that ever started. */
export function createLauncher(): {
  launch(member: Omit<ClusterMember, "process">, argv?: string[]): Promise<ClusterMember>;
  killAll(): Promise<void>;
} {
  const started: ClusterMember[] = [];
  return {
    async launch(member, argv) {
      const running = await startMember(member, argv);
      started.push(running);
      return running;
    },
    async killAll() {
      await Promise.all(
        started.map((member) =>
          member.process.child.exitCode === null && member.process.child.signalCode === null ? member.process.stop("SIGKILL") : undefined
        ),
      );
    },
  };
}
