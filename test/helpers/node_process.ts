import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The compiled binary under test: $EDGECACHE_TEST_BINARY, else dist/edgecache. */
export function binaryPath(): string {
  const path = process.env.EDGECACHE_TEST_BINARY ?? `${REPO_ROOT}dist/edgecache`;
  if (!existsSync(path)) throw new Error(`Cannot run e2e tests as the binary must be built first (scripts/build): ${path} is missing`);
  return path;
}

/** The command that runs the sources on the runtime executing this test file. */
export function sourceCommand(): string[] {
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  return deno !== undefined ? [deno.execPath(), "run", "-A", `${REPO_ROOT}src/main.ts`] : [process.execPath, "run", `${REPO_ROOT}src/main.ts`];
}

/** A finished command. */
export interface CommandResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with a deadline. */
export function runCommand(argv: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk) => (stdout += chunk));
    child.stderr?.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`command timed out after ${timeoutMs}ms: ${argv.join(" ")}\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A node process started by a test. */
export interface NodeProcess {
  url: string;
  port: number;
  /** The first-run admin token printed on stderr, when no key was configured. */
  token?: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** Resolves with the exit code once the process ends. */
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Sends `signal` (default SIGTERM) and waits for exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: string | null }>;
}

/**
 * Starts a node (the compiled binary by default) on an ephemeral port and waits until it logs
 * that it listens. `EDGECACHE_LISTEN` defaults to 127.0.0.1:0 so tests never collide.
 */
export async function startNodeProcess(env: Record<string, string> = {}, argv: string[] = [binaryPath()], timeoutMs = 20_000): Promise<NodeProcess> {
  const child = spawn(argv[0], [...argv.slice(1), "serve"], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", EDGECACHE_LISTEN: "127.0.0.1:0", EDGECACHE_NODE_ID: "e2e", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => (stdout += chunk));
  child.stderr?.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  const logs = () =>
    stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
  const deadline = Date.now() + timeoutMs;
  let url: string | undefined;
  while (url === undefined) {
    const listening = logs().find((line) => line.msg === "edgecache listening");
    if (listening !== undefined) url = listening.url as string;
    else if (child.exitCode !== null) throw new Error(`node exited with ${child.exitCode} before listening:\n${stderr}`);
    else if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`node did not listen within ${timeoutMs}ms:\n${stderr}`);
    } else await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // The first-run token is printed right after the listening line; wait for it when expected.
  while (env.EDGECACHE_JWT_SECRET === undefined && env.EDGECACHE_JWT_PUBLIC_KEY === undefined && !/admin token/.test(stderr) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    url,
    port: Number(new URL(url).port),
    token: /admin token \(valid 1h\): (\S+)/.exec(stderr)?.[1],
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    logs,
    exited,
    async stop(signal = "SIGTERM") {
      // process.kill, not child.kill: Deno's child_process reports any child it was asked to
      // kill as killed by that signal, hiding the real exit code of a graceful shutdown.
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, signal);
      const exit = await exited;
      // Every node a test stops has its whole log checked: no secret and no token, ever.
      const leak = secretsIn(stdout, env);
      if (leak !== undefined) throw new Error(`the node's log holds a secret: ${leak}`);
      return exit;
    },
  };
}

/** The first secret found in a node's log: its JWT secret, a write-behind token, or any JWT. */
export function secretsIn(log: string, env: Record<string, string>): string | undefined {
  for (const name of ["EDGECACHE_JWT_SECRET", "EDGECACHE_WRITE_BEHIND_TOKEN"]) {
    if (env[name] !== undefined && log.includes(env[name])) return name;
  }
  return /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/.test(log) ? "a bearer token (JWT)" : undefined;
}

/** Sends raw bytes over TCP and collects what comes back until the peer closes or `idleMs` passes. */
export function rawRequest(port: number, chunks: Array<string | Uint8Array>, options: { idleMs?: number; gapMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let received = "";
    let timer: ReturnType<typeof setTimeout>;
    const finish = () => {
      socket.destroy();
      resolve(received);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, options.idleMs ?? 3000);
    };
    socket.on("data", (data) => {
      received += data.toString("latin1");
      arm();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
    // A server may answer and close before the whole request is written (that is the point of
    // refusing early), so a write error after any answer is the expected outcome, not a failure.
    socket.on("error", (error) => (received.length > 0 || (error as NodeJS.ErrnoException).code === "EPIPE" || (error as NodeJS.ErrnoException).code === "ECONNRESET" ? finish() : reject(error)));
    socket.on("connect", async () => {
      arm();
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
    });
  });
}

/** Polls `check` until it returns true or the deadline passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
