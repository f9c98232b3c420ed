/**
 * A `Transport` whose sockets live in a child process (`tls_peer_process.ts`), preferably on the
 * other runtime: under `bun test` the child runs on Deno, under `deno test` on Bun. Running the
 * transport contract through it proves that a Bun node and a Deno node interoperate over our TLS.
 * Not a test file itself: its name does not end in `.test.ts`.
 */
import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import type { Connection, Transport } from "../../src/cluster/transport.ts";
import { PeerUnavailable } from "../../src/core/errors.ts";
import type { CertFiles } from "./certs.ts";
import { REPO_ROOT } from "./node_process.ts";

const SCRIPT = `${REPO_ROOT}test/helpers/tls_peer_process.ts`;

/** The runtime a child transport runs on, and the command that starts the script on it. */
export interface PeerRuntime {
  name: "bun" | "deno";
  argv: string[];
}

/** The other runtime when its binary is installed (node_modules/.bin), else this one in a separate process. */
export function otherRuntime(): PeerRuntime {
  const onDeno = "Deno" in globalThis;
  const bun = `${REPO_ROOT}node_modules/.bin/bun`;
  const deno = `${REPO_ROOT}node_modules/.bin/deno`;
  if (onDeno && existsSync(bun)) return { name: "bun", argv: [bun, "run", SCRIPT] };
  if (!onDeno && existsSync(deno)) return { name: "deno", argv: [deno, "run", "-A", "--quiet", SCRIPT] };
  return onDeno ? { name: "deno", argv: [process.execPath, "run", "-A", "--quiet", SCRIPT] } : { name: "bun", argv: [process.execPath, "run", SCRIPT] };
}

/** A transport in a child process. */
export interface RemoteTransport extends Transport {
  /** The runtime the child runs on. */
  runtime: PeerRuntime["name"];
  /** Ends the child process. */
  stop(): Promise<void>;
}

interface RemoteEnd {
  data: Array<(chunk: Uint8Array) => void>;
  early: Uint8Array[] | undefined;
  close: Array<(error?: Error) => void>;
  closed: boolean;
  error?: Error;
}

/** Starts `tls_peer_process.ts` on `runtime` with the node certificate `files` and waits until it is ready. */
export async function startRemoteTransport(files: CertFiles, runtime: PeerRuntime = otherRuntime(), readyMs = 20_000): Promise<RemoteTransport> {
  const child: ChildProcess = spawn(runtime.argv[0], [...runtime.argv.slice(1), files.certPath, files.keyPath, files.caPath], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1" },
  });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const replies = new Map<number, { resolve: (message: any) => void }>();
  const ends = new Map<number, RemoteEnd>();
  const acceptors = new Map<number, (connection: Connection) => void>();
  let nextId = 1;
  const ready = Promise.withResolvers<void>();

  const send = (message: Record<string, unknown>) => void child.stdin!.write(`${JSON.stringify(message)}\n`);
  const request = (message: Record<string, unknown>) =>
    new Promise<any>((resolve) => {
      const id = nextId++;
      replies.set(id, { resolve });
      send({ ...message, id });
    });

  function connection(conn: number, peerIdentity: string | undefined, remoteAddress: string): Connection {
    const end: RemoteEnd = { data: [], early: [], close: [], closed: false };
    ends.set(conn, end);
    return {
      peerIdentity,
      remoteAddress,
      write(bytes) {
        if (end.closed) return false;
        send({ op: "write", conn, data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") });
        return true;
      },
      onData(listener) {
        end.data.push(listener);
        const pending = end.early;
        end.early = undefined;
        if (pending) for (const chunk of pending) listener(chunk);
      },
      onDrain() {
        // Writes never report a full buffer: the child's socket buffers them.
      },
      onClose(listener) {
        if (end.closed) queueMicrotask(() => listener(end.error));
        else end.close.push(listener);
      },
      close: () => void (end.closed || send({ op: "close", conn })),
    };
  }

  createInterface({ input: child.stdout! }).on("line", (line) => {
    const message = JSON.parse(line);
    if (message.op === "ready") ready.resolve();
    else if (message.op === "reply") {
      replies.get(message.id)?.resolve(message);
      replies.delete(message.id);
    } else if (message.op === "accepted") {
      acceptors.get(message.listener)?.(connection(message.conn, message.peerIdentity, message.remoteAddress));
    } else if (message.op === "data") {
      const end = ends.get(message.conn);
      const chunk = new Uint8Array(Buffer.from(message.data, "base64"));
      if (end?.early) end.early.push(chunk);
      else for (const listener of end?.data ?? []) listener(chunk);
    } else if (message.op === "closed") {
      const end = ends.get(message.conn);
      if (!end || end.closed) return;
      end.closed = true;
      end.error = message.error === undefined ? undefined : new Error(message.error);
      for (const listener of end.close) listener(end.error);
    }
  });

  const timer = setTimeout(() => ready.reject(new Error(`Cannot start the ${runtime.name} peer as it must be ready within ${readyMs}ms: ${stderr}`)), readyMs);
  child.on("error", (error) => ready.reject(error));
  void exited.then(() => ready.reject(new Error(`Cannot start the ${runtime.name} peer as it exited: ${stderr}`)));
  try {
    await ready.promise;
  } finally {
    clearTimeout(timer);
  }

  const failure = (error: { code?: string; message: string }) =>
    error.code === "peer_unavailable" ? new PeerUnavailable(error.message) : Object.assign(new Error(error.message), { code: error.code });

  return {
    runtime: runtime.name,
    async listen(address, onConnection) {
      const reply = await request({ op: "listen", host: address.host, port: address.port });
      if (reply.error) throw failure(reply.error);
      acceptors.set(reply.id, onConnection);
      return {
        port: reply.port,
        close: async () => {
          await request({ op: "unlisten", listener: reply.id });
          acceptors.delete(reply.id);
        },
      };
    },
    async connect(address, timeoutMs) {
      const reply = await request({ op: "connect", host: address.host, port: address.port, timeoutMs });
      if (reply.error) throw failure(reply.error);
      return connection(reply.conn, reply.peerIdentity, reply.remoteAddress);
    },
    async stop() {
      child.stdin!.end();
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}
