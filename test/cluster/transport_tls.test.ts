import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { connect as netConnect, createServer as createNetServer, type Socket } from "node:net";
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { Connection, TransportAddress } from "../../src/cluster/transport.ts";
import { createTlsTransport } from "../../src/runtime/node_tls.ts";
import { testPki, type TestPki } from "../helpers/certs.ts";
import { waitFor } from "../helpers/node_process.ts";
import { otherRuntime, type RemoteTransport, startRemoteTransport } from "../helpers/remote_transport.ts";
import { record, runTransportContract } from "../unit/transport.contract.ts";

const HOST = "127.0.0.1";
const here = "Deno" in globalThis ? "deno" : "bun";

/** A TCP server that accepts and then never says a word: a TLS handshake against it hangs. */
async function silentServer(): Promise<{ address: TransportAddress; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: { host: HOST, port },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

runTransportContract(`tls on ${here}`, async () => {
  const pki = await testPki();
  return {
    server: createTlsTransport(pki.nodes["node-a"]),
    serverIdentity: "node-a",
    client: createTlsTransport(pki.nodes["node-b"]),
    clientIdentity: "node-b",
    host: HOST,
    unresponsive: silentServer,
  };
});

const peer = otherRuntime();

runTransportContract(`tls, ${here} client to ${peer.name} server in a child process`, async () => {
  const pki = await testPki();
  const remote = await startRemoteTransport(pki.nodes["node-a"], peer);
  return {
    server: remote,
    serverIdentity: "node-a",
    client: createTlsTransport(pki.nodes["node-b"]),
    clientIdentity: "node-b",
    host: HOST,
    unresponsive: silentServer,
    dispose: () => remote.stop(),
  };
});

runTransportContract(`tls, ${peer.name} client in a child process to ${here} server`, async () => {
  const pki = await testPki();
  const remote = await startRemoteTransport(pki.nodes["node-b"], peer);
  return {
    server: createTlsTransport(pki.nodes["node-a"]),
    serverIdentity: "node-a",
    client: remote,
    clientIdentity: "node-b",
    host: HOST,
    unresponsive: silentServer,
    dispose: () => remote.stop(),
  };
});

describe(`tls transport on ${here}: strangers get nothing`, () => {
  let pki: TestPki;
  let accepted: Connection[];
  let port: number;
  let close: () => Promise<void>;

  before(async () => {
    pki = await testPki();
    accepted = [];
    const listener = await createTlsTransport(pki.nodes["node-a"]).listen({ host: HOST, port: 0 }, (connection) => {
      accepted.push(connection);
      connection.onData(() => connection.write(new TextEncoder().encode("secret")));
    });
    port = listener.port;
    close = () => listener.close();
  });
  after(() => close());

  /** Proves no stranger slipped in late: a real node connects, and it is the only one ever accepted. */
  async function onlyTheRealNodeGetsIn(): Promise<void> {
    const before = accepted.length;
    const real = record(await createTlsTransport(pki.nodes["node-b"]).connect({ host: HOST, port }, 5000));
    await waitFor(() => accepted.length === before + 1, 5000, "the real node to be accepted");
    assert.deepEqual(accepted.map((connection) => connection.peerIdentity), Array(before + 1).fill("node-b"));
    real.connection.close();
  }

  /** Opens a raw socket, sends `hello` once connected, and collects what comes back until the server hangs up. */
  function rawClient(open: () => Socket | TLSSocket, connectEvent: string): Promise<{ received: Uint8Array[]; error?: Error }> {
    return new Promise((resolve, reject) => {
      const received: Uint8Array[] = [];
      let error: Error | undefined;
      const socket = open();
      const deadline = setTimeout(() => {
        socket.destroy();
        reject(new Error("the server kept a stranger's connection open for 5s"));
      }, 5000);
      socket.on(connectEvent, () => socket.write("hello\n"));
      socket.on("data", (chunk: Uint8Array) => void received.push(chunk));
      socket.on("error", (e) => (error = e));
      socket.on("close", () => {
        clearTimeout(deadline);
        resolve({ received, error });
      });
    });
  }

  test("a client without a certificate is refused before onConnection and receives nothing", async () => {
    const { received, error } = await rawClient(
      () => tlsConnect({ host: HOST, port, ca: pki.ca.cert, checkServerIdentity: () => undefined, minVersion: "TLSv1.3" }),
      "secureConnect",
    );
    assert.deepEqual(received, []);
    assert.ok(error, "the client sees the handshake fail");
    await onlyTheRealNodeGetsIn();
  });

  test("a client whose certificate comes from another CA is refused before onConnection and receives nothing", async () => {
    // It trusts the cluster CA, so it gets as far as presenting its own foreign certificate.
    const stranger = createTlsTransport({ cert: pki.stranger.cert, key: pki.stranger.key, ca: pki.ca.cert });
    let connection: Connection | undefined;
    try {
      connection = await stranger.connect({ host: HOST, port }, 5000);
    } catch (error) {
      assert.equal((error as { code?: string }).code, "peer_unavailable");
    }
    if (connection) {
      // TLS 1.3 lets a client finish before the server has checked its certificate; the server then hangs up.
      const seen = record(connection);
      connection.write(new TextEncoder().encode("hello"));
      await waitFor(() => seen.closes.length === 1, 5000, "the server to hang up");
      assert.equal(seen.bytes, 0);
    }
    await onlyTheRealNodeGetsIn();
  });

  test("a plaintext TCP client is refused before onConnection and receives at most a TLS alert", async () => {
    const { received } = await rawClient(() => netConnect({ host: HOST, port }), "connect");
    const bytes = Buffer.concat(received);
    // Deno's server answers with a 7-byte alert record (content type 21); Bun's just closes.
    assert.ok(bytes.byteLength === 0 || (bytes[0] === 21 && bytes.byteLength <= 7), `received ${bytes.toString("hex")}`);
    await onlyTheRealNodeGetsIn();
  });

  test("a client offering at most TLS 1.2 is refused", async () => {
    const { received, error } = await rawClient(
      () => tlsConnect({ host: HOST, port, ...pki.nodes["node-b"], checkServerIdentity: () => undefined, maxVersion: "TLSv1.2" }),
      "secureConnect",
    );
    assert.deepEqual(received, []);
    assert.ok(error, "the handshake fails");
    await onlyTheRealNodeGetsIn();
  });

  test("a valid certificate with an unknown CN is accepted and reported as that CN, for the peer link to refuse", async () => {
    const impostor = record(await createTlsTransport(pki.impostor).connect({ host: HOST, port }, 5000));
    await waitFor(() => accepted.some((connection) => connection.peerIdentity === "impostor"), 5000, "the impostor connection");
    assert.equal(impostor.connection.peerIdentity, "node-a");
    impostor.connection.close();
    accepted.splice(accepted.findIndex((connection) => connection.peerIdentity === "impostor"), 1);
  });

  test("the negotiated protocol is TLS 1.3", async () => {
    const socket = tlsConnect({ host: HOST, port, ...pki.nodes["node-b"], checkServerIdentity: () => undefined });
    await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
    assert.equal(socket.getProtocol(), "TLSv1.3");
    assert.equal(socket.authorized, true);
    socket.destroy();
    await waitFor(() => accepted.length > 0, 5000, "the server side");
  });
});

describe(`tls transport on ${here}: untrusted servers and slow clients`, () => {
  test("a server whose certificate comes from another CA is refused with peer_unavailable", async () => {
    const pki = await testPki();
    const listener = await createTlsTransport(pki.stranger).listen({ host: HOST, port: 0 }, () => assert.fail("nothing may connect"));
    const client = createTlsTransport(pki.nodes["node-b"]);
    await assert.rejects(client.connect({ host: HOST, port: listener.port }, 5000), (error: { code?: string }) => error.code === "peer_unavailable");
    await listener.close();
  });

  test("a server that offers only TLS 1.2 is refused with peer_unavailable", async () => {
    const pki = await testPki();
    const server = createTlsServer({ ...pki.nodes["node-a"], maxVersion: "TLSv1.2", requestCert: true });
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    const port = (server.address() as { port: number }).port;
    const client = createTlsTransport(pki.nodes["node-b"]);
    await assert.rejects(client.connect({ host: HOST, port }, 5000), (error: { code?: string }) => error.code === "peer_unavailable");
    await new Promise((resolve) => server.close(resolve));
  });

  test("a client that connects and never completes the handshake is dropped after handshakeTimeoutMs", async () => {
    const pki = await testPki();
    const listener = await createTlsTransport(pki.nodes["node-a"], { handshakeTimeoutMs: 300 }).listen({ host: HOST, port: 0 }, () => assert.fail("nothing may connect"));
    const started = Date.now();
    const silent = netConnect({ host: HOST, port: listener.port });
    silent.on("error", () => {});
    const closedAfter = await new Promise<number>((resolve) => silent.on("close", () => resolve(Date.now() - started)));
    assert.ok(closedAfter >= 250 && closedAfter < 5000, `dropped after ${closedAfter}ms`);
    await listener.close();
  });

  test(`the cross-runtime peer runs on ${peer.name}`, async () => {
    const pki = await testPki();
    const remote: RemoteTransport = await startRemoteTransport(pki.nodes["node-c"], peer);
    assert.equal(remote.runtime, peer.name);
    await remote.stop();
  });
});
