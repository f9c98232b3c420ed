import { createServer } from "node:net";
import { binaryPath, type NodeProcess, REPO_ROOT, startNodeProcess, waitFor } from "./node_process.ts";
import { type TestPki, testPki } from "./certs.ts";

/** The shared HS256 secret of every test cluster. */
export const CLUSTER_SECRET = "cluster-test-secret-that-is-32-bytes-or-more";

const handedOut = new Set<number>();

/**
 * Ports handed out lie below Linux's ephemeral range (32768-60999 by default): a port the kernel
 * picks for port 0 may be taken, between the probe and the node's own bind, by any outgoing
 * connection of any test running meanwhile (seen as EADDRINUSE in CI). Ports in this range are
 * only ever bound on purpose.
 */
const PORT_RANGE = { from: 20_000, to: 32_000 };

/** A free TCP port on 127.0.0.1 (bound, then released), never the same one twice in a process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
}

/** True when `port` on 127.0.0.1 can be bound right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.on("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A token for every scope of the test cluster. */
export async function clusterToken(scope = "cache:read cache:write cache:admin"): Promise<string> {
  const { SignJWT } = await import("jose");
  return await new SignJWT({ scope }).setProtectedHeader({ alg: "HS256" }).setSubject("cluster-test").setExpirationTime("30m")
    .sign(new TextEncoder().encode(CLUSTER_SECRET));
}

/** The command running the sources on the OTHER runtime than this test's, for mixed clusters. */
export function otherRuntimeCommand(): string[] {
  const onDeno = "Deno" in globalThis;
  return onDeno ? [`${REPO_ROOT}node_modules/.bin/bun`, "run", `${REPO_ROOT}src/main.ts`] : [`${REPO_ROOT}node_modules/.bin/deno`, "run", "-A", `${REPO_ROOT}src/main.ts`];
}

/** One node of a test cluster. */
export interface ClusterMember {
  id: "node-a" | "node-b" | "node-c";
  peerPort: number;
  env: Record<string, string>;
  process: NodeProcess;
}

/** Settings of a test node: fast failure detection so tests are quick. */
export async function nodeEnv(pki: TestPki, id: ClusterMember["id"], peerPort: number, seeds: number[], extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const cert = pki.nodes[id];
  return {
    EDGECACHE_NODE_ID: id,
    EDGECACHE_MODE: "cluster",
    EDGECACHE_JWT_SECRET: CLUSTER_SECRET,
    EDGECACHE_PEER_LISTEN: `127.0.0.1:${peerPort}`,
    EDGECACHE_PEERS: seeds.map((port) => `127.0.0.1:${port}`).join(","),
    EDGECACHE_REPLICAS: "2",
    EDGECACHE_TLS_CERT: cert.certPath,
    EDGECACHE_TLS_KEY: cert.keyPath,
    EDGECACHE_TLS_CA: cert.caPath,
    EDGECACHE_HEARTBEAT_INTERVAL: "150ms",
    EDGECACHE_FAILURE_TIMEOUT: "1200ms",
    EDGECACHE_PEER_TIMEOUT: "1s",
    EDGECACHE_SHUTDOWN_TIMEOUT: "5s",
    ...extra,
  };
}

/** Starts one member. */
export async function startMember(member: Omit<ClusterMember, "process">, argv: string[] = [binaryPath()]): Promise<ClusterMember> {
  return { ...member, process: await startNodeProcess(member.env, argv) };
}

/** Starts `ids` as a cluster (each seeded with every other) and waits until all see each other alive. */
export async function startCluster(ids: ClusterMember["id"][], options: { extra?: Record<string, string>; argvFor?: (id: string) => string[] } = {}): Promise<{ pki: TestPki; members: ClusterMember[] }> {
  const pki = await testPki();
  const ports = await Promise.all(ids.map(() => freePort()));
  const members = await Promise.all(ids.map(async (id, index) => {
    const env = await nodeEnv(pki, id, ports[index], ports.filter((_, other) => other !== index), options.extra);
    return startMember({ id, peerPort: ports[index], env }, options.argvFor?.(id));
  }));
  await waitForMembers(members, ids.length);
  return { pki, members };
}

/** Reads `/v1/admin/cluster` of a member. */
export async function clusterView(member: ClusterMember, token: string): Promise<{ members: Array<{ id: string; state: string }> }> {
  const response = await fetch(`${member.process.url}/v1/admin/cluster`, { headers: { authorization: `Bearer ${token}` } });
  return await response.json();
}

/**
 * Waits until every member sees `count` members alive (self included) and is ready: a member
 * still catching up after its start routes its misses elsewhere, so a herd test started then
 * could see two owners each load the key once.
 */
export async function waitForMembers(members: ClusterMember[], count: number, timeoutMs = 20_000): Promise<void> {
  const token = await clusterToken();
  await waitFor(async () => {
    for (const member of members) {
      const view = await clusterView(member, token).catch(() => undefined);
      const alive = view?.members.filter((m) => m.state === "alive" || m.state === "self").length ?? 0;
      if (alive !== count) return false;
      const ready = await fetch(`${member.process.url}/readyz`).then((response) => response.status === 200, () => false);
      if (!ready) return false;
    }
    return true;
  }, timeoutMs, `${count} members alive in every view, and ready`);
}

/** Stops every member that is still running. */
export async function stopAll(members: ClusterMember[]): Promise<void> {
  await Promise.all(members.map((member) => member.process.child.exitCode === null && member.process.child.signalCode === null ? member.process.stop("SIGKILL") : undefined));
}
