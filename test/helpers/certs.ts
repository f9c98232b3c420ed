/**
 * Throwaway PKI for tests, generated with openssl at test time in a temporary directory: a cluster
 * CA with one certificate per node (CN = node id), an impostor signed by the same CA, and a stranger
 * whose certificate comes from an unrelated CA. EC P-256 keys, one openssl process per certificate,
 * generated once per test process and removed when it exits.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { TlsCredentials } from "../../src/cluster/transport.ts";

/** The openssl binary; $OPENSSL overrides it. */
const OPENSSL = process.env.OPENSSL ?? "/usr/bin/openssl";

/** The node ids that get a certificate from the cluster CA. */
export const NODE_IDS = ["node-a", "node-b", "node-c"] as const;

/** One certificate and its key, as PEM text and as files. */
export interface CertFiles extends TlsCredentials {
  /** The certificate's subject CN. */
  cn: string;
  certPath: string;
  keyPath: string;
  caPath: string;
}

/** Everything `testPki()` generates. */
export interface TestPki {
  /** The temporary directory holding every file. */
  dir: string;
  /** The cluster CA's certificate (PEM) and its file. */
  ca: { cert: string; certPath: string };
  /** One certificate per entry of NODE_IDS, signed by the cluster CA, CN = node id. */
  nodes: Record<(typeof NODE_IDS)[number], CertFiles>;
  /** Signed by the cluster CA but with CN "impostor": a valid certificate claiming no known node id. */
  impostor: CertFiles;
  /**
   * CN "node-a" (it claims a real node id) signed by an unrelated CA; `ca` is that other CA, so a
   * stranger trusts itself but the cluster does not trust it.
   */
  stranger: CertFiles;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(OPENSSL, args, { cwd }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`Cannot generate test certificates as openssl must succeed: ${stderr || error.message}`));
      else resolve();
    });
  });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

async function makeCa(dir: string, name: string): Promise<{ cert: string; certPath: string; keyPath: string }> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  await openssl(
    ["req", "-x509", "-new", ...EC_KEY, "-keyout", keyPath, "-out", certPath, "-subj", `/CN=${name}`, "-days", "2",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    dir,
  );
  return { cert: readFileSync(certPath, "utf8"), certPath, keyPath };
}

async function makeLeaf(dir: string, file: string, cn: string, ca: { cert: string; certPath: string; keyPath: string }): Promise<CertFiles> {
  const certPath = join(dir, `${file}.crt`);
  const keyPath = join(dir, `${file}.key`);
  // No subjectAltName on purpose: nodes are addressed by host:port that certificates need not name.
  await openssl(
    ["req", "-x509", "-new", ...EC_KEY, "-keyout", keyPath, "-out", certPath, "-subj", `/CN=${cn}`, "-days", "2",
      "-CA", ca.certPath, "-CAkey", ca.keyPath, "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "keyUsage=critical,digitalSignature", "-addext", "extendedKeyUsage=serverAuth,clientAuth"],
    dir,
  );
  return { cn, cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), ca: ca.cert, certPath, keyPath, caPath: ca.certPath };
}

async function generate(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), "edgecache-pki-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const [ca, otherCa] = await Promise.all([makeCa(dir, "cluster-ca"), makeCa(dir, "other-ca")]);
  const [a, b, c, impostor, stranger] = await Promise.all([
    ...NODE_IDS.map((id) => makeLeaf(dir, id, id, ca)),
    makeLeaf(dir, "impostor", "impostor", ca),
    makeLeaf(dir, "stranger", "node-a", otherCa),
  ]);
  return { dir, ca: { cert: ca.cert, certPath: ca.certPath }, nodes: { "node-a": a, "node-b": b, "node-c": c }, impostor, stranger };
}

let cached: Promise<TestPki> | undefined;

/** The test PKI, generated on first use and shared by every test in this process. */
export function testPki(): Promise<TestPki> {
  cached ??= generate();
  return cached;
}
