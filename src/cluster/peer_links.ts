import { EdgecacheError, PeerUnavailable } from "../core/errors.ts";
import { parseAddress } from "../config/units.ts";
import { type CircuitBreaker, createCircuitBreaker } from "../origin/circuit_breaker.ts";
import { backoffDelay } from "../origin/backoff.ts";
import { type Frame, type MemberInfo, type Op, PROTOCOL_VERSION } from "./frames.ts";
import { Link } from "./link.ts";
import type { Membership } from "./membership.ts";
import type { Connection, Transport, TransportAddress } from "./transport.ts";

/** Timing and limits of the peer links. */
export interface PeerLinkSettings {
  cluster: string;
  heartbeatMs: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  maxFrameBytes: number;
  maxQueuedBytes: number;
  reconnectBaseMs: number;
  reconnectCapMs: number;
  breakerThreshold: number;
  breakerCoolDownMs: number;
}

/** Minimal logger shape (pino's). */
export interface LinkLog {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  debug(object: object, message: string): void;
}

/** What the links take from the node. */
export interface PeerLinksDeps {
  self: { id: string; peer: string; http: string };
  transport: Transport;
  membership: Membership;
  log: LinkLog;
  now: () => number;
  random: () => number;
  /** Serves a request from a peer; the result is the response body. */
  onRequest(from: string, op: Op, rid: string): Promise<unknown>;
  /** Observes frames for metrics. */
  onFrame?: (direction: "in" | "out", type: string) => void;
  /**
   * Called when a link to `node` becomes its active link: the peer may have restarted (empty) or
   * missed writes while unreachable without ever being declared down, so it needs a sync.
   */
  onLinkUp?: (node: string) => void;
  /** Called when the active link to `node` closes (a replacing link then comes up at once). */
  onLinkDown?: (node: string) => void;
  /** Called with each member list a peer gossips (welcome, ping, pong), after membership learned it. */
  onGossip?: (from: string, members: readonly MemberInfo[]) => void;
}

/** The state of the link to one peer, for admin and metrics. */
export interface LinkState {
  node: string;
  up: boolean;
  rttMs: number;
  breaker: string;
}

/** Every peer link of a node: one multiplexed connection per pair, kept up and checked. */
export interface PeerLinks {
  /** Listens for peers and starts dialling the seeds. Returns the bound peer port. */
  start(listen: TransportAddress, seeds: readonly string[]): Promise<number>;
  /** Sends `op` to `node`; throws PeerUnavailable when it cannot be reached. */
  request(node: string, op: Op, rid: string, timeoutMs?: number): Promise<unknown>;
  isUp(node: string): boolean;
  /**
   * A number that changes every time a new link to `node` becomes active (undefined while none
   * is): work that spans a link's life (a sync) checks it did not change before claiming done.
   */
  serial(node: string): number | undefined;
  states(): LinkState[];
  /** Tells every peer this node is leaving. */
  announceLeave(): void;
  stop(): Promise<void>;
}

/** Creates the peer links of a node. */
export function createPeerLinks(settings: PeerLinkSettings, deps: PeerLinksDeps): PeerLinks {
  const { self, membership, log } = deps;
  const links = new Map<string, Link>();
  const breakers = new Map<string, CircuitBreaker>();
  /**
   * Addresses being dialled or waiting to be, with their retry schedule and the node a completed
   * handshake found there (a seed's address need not be the address that node advertises).
   */
  const dialing = new Map<string, { attempt: number; nextAt: number; busy: boolean; node?: string }>();
  const seedAddresses = new Set<string>();
  let listener: { close(): Promise<void> } | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;

  const breakerFor = (node: string) => {
    let breaker = breakers.get(node);
    if (breaker === undefined) {
      breaker = createCircuitBreaker({ failureThreshold: settings.breakerThreshold, coolDownMs: settings.breakerCoolDownMs, now: deps.now });
      breakers.set(node, breaker);
    }
    return breaker;
  };


  /** Learns a peer's gossip and reports who sent it. */
  const learn = (link: Link, members: readonly MemberInfo[]) => {
    membership.learn(members);
    deps.onGossip?.(link.nodeId as string, members);
  };
  /** Link generations: see PeerLinks.serial. */
  const serials = new Map<string, number>();
  let lastSerial = 0;

  /**
   * Keeps one connection per pair: the one dialled by the smaller node id, on both sides alike.
   * Between two links of the same dialler the newer wins: a node dials a peer again only after
   * giving its old link up (closed, or silent past the failure timeout), while the other side may
   * still hold that old link open behind a middlebox that forgot it.
   */
  function establish(link: Link): void {
    const node = link.nodeId as string;
    const existing = links.get(node);
    if (existing !== undefined && !existing.closed) {
      const preferredDialer = self.id < node ? self.id : node;
      const keepNew = link.dialer === preferredDialer || existing.dialer !== preferredDialer;
      const loser = keepNew ? existing : link;
      if (loser === link) {
        link.close("duplicate link");
        return;
      }
      existing.close("duplicate link");
    }
    links.set(node, link);
    serials.set(node, ++lastSerial);
    // A completed handshake proves the peer answers: what an earlier link's failures opened starts over.
    breakers.delete(node);
    membership.heard(node, link.peerAddress, link.httpAddress);
    log.info({ peer: node, address: link.connection.remoteAddress }, "peer link up");
    deps.onLinkUp?.(node);
  }

  /** Sends without throwing; false when the frame could not go out (closed, backed up, too large). */
  const trySend = (link: Link, frame: Frame): boolean => {
    try {
      link.send(frame);
      return true;
    } catch {
      return false;
    }
  };

  const errorFrame = (id: number, error: unknown): Extract<Frame, { t: "err" }> => {
    const known = error instanceof EdgecacheError;
    // The schema caps messages at 2048 characters; a longer one would get the whole link closed.
    return { t: "err", id, code: known ? error.code : "internal", message: known ? error.message.slice(0, 2048) : "internal error" };
  };

  /**
   * Answers a peer's request. Called from a promise callback, so it must not throw: an answer
   * that cannot go out (too large, link backed up) becomes an error saying why, so the caller
   * learns it now rather than at its timeout.
   */
  function reply(link: Link, frame: Extract<Frame, { t: "res" | "err" }>): void {
    if (link.closed) return;
    try {
      link.send(frame);
    } catch (error) {
      if (frame.t === "res") trySend(link, errorFrame(frame.id, error));
    }
  }

  function onFrame(link: Link, frame: Frame): void {
    // A stopped node completes no handshake and serves nothing, whatever was under way.
    if (stopped) return link.close("node stopping");
    if (link.nodeId === undefined) return handshake(link, frame);
    // A member that announced its leave stays left while it hands its keys off over this link;
    // only a new handshake (a restart) brings it back.
    if (membership.get(link.nodeId)?.state !== "left") membership.heard(link.nodeId, link.peerAddress, link.httpAddress);
    switch (frame.t) {
      case "ping":
        learn(link, frame.members);
        // This runs inside the transport's data callback: a pong that cannot be queued (the link
        // is backed up) is a missed heartbeat, not an exception thrown into the socket.
        trySend(link, { t: "pong", id: frame.id, members: membership.gossip() });
        return;
      case "pong":
        learn(link, frame.members);
        link.rttMs = Math.max(0, deps.now() - frame.id);
        return;
      case "req": {
        const from = link.nodeId;
        // The client's request id travels on the frame, so one request can be followed across nodes.
        log.debug({ peer: from, op: frame.op.op, requestId: frame.rid }, "peer request");
        deps.onRequest(from, frame.op, frame.rid).then(
          (body) => reply(link, { t: "res", id: frame.id, ok: true, body }),
          (error) => {
            if (!(error instanceof EdgecacheError)) log.warn({ err: error, peer: from, op: frame.op.op, requestId: frame.rid }, "peer request failed");
            reply(link, errorFrame(frame.id, error));
          },
        );
        return;
      }
      case "leave":
        log.info({ peer: frame.node }, "peer is leaving");
        membership.left(link.nodeId);
        return;
      default:
        link.close(`unexpected ${frame.t} frame`);
    }
  }

  /** The first frame on a link must prove who the peer is: its certificate, its claim, our cluster. */
  function handshake(link: Link, frame: Frame): void {
    const identity = link.connection.peerIdentity;
    const refuse = (reason: string) => {
      log.warn({ address: link.connection.remoteAddress, identity, reason }, "peer refused");
      try {
        link.send({ t: "refuse", reason });
      } catch { /* closing anyway */ }
      link.close(reason);
    };
    if (frame.t === "hello" && link.dialer !== self.id) {
      if (frame.v !== PROTOCOL_VERSION) return refuse(`protocol version ${frame.v} is not ${PROTOCOL_VERSION}`);
      if (frame.cluster !== settings.cluster) return refuse(`cluster '${frame.cluster}' is not '${settings.cluster}'`);
      if (frame.node !== identity) return refuse(`node id '${frame.node}' does not match the certificate's '${identity}'`);
      if (frame.node === self.id) return refuse("a node cannot link to itself");
      Object.assign(link, { nodeId: frame.node, peerAddress: frame.peer, httpAddress: frame.http, dialer: frame.node });
      try {
        link.send({ t: "welcome", v: PROTOCOL_VERSION, node: self.id, peer: self.peer, http: self.http, members: membership.gossip() });
      } catch {
        // A link that cannot take the welcome cannot be established; this runs inside the socket's
        // data callback, where a throw would be uncaught.
        return link.close("could not send the welcome");
      }
      return establish(link);
    }
    if (frame.t === "welcome" && link.dialer === self.id) {
      if (frame.v !== PROTOCOL_VERSION) return refuse(`protocol version ${frame.v} is not ${PROTOCOL_VERSION}`);
      if (frame.node !== identity) return refuse(`node id '${frame.node}' does not match the certificate's '${identity}'`);
      if (frame.node === self.id) return refuse("a node cannot link to itself");
      Object.assign(link, { nodeId: frame.node, peerAddress: frame.peer, httpAddress: frame.http });
      learn(link, frame.members);
      return establish(link);
    }
    if (frame.t === "refuse") return link.close(`refused by peer: ${frame.reason}`);
    refuse(`expected a handshake, got ${frame.t}`);
  }

  const handlers = {
    onFrame,
    observe: (direction: "in" | "out", type: string) => deps.onFrame?.(direction, type),
    onClosed(link: Link, reason: string) {
      if (link.nodeId !== undefined && links.get(link.nodeId) === link) {
        links.delete(link.nodeId);
        log.info({ peer: link.nodeId, reason }, "peer link down");
        deps.onLinkDown?.(link.nodeId);
      }
    },
  };
  const limits = { maxFrameBytes: settings.maxFrameBytes, maxQueuedBytes: settings.maxQueuedBytes };

  async function dial(address: string): Promise<void> {
    const slot = dialing.get(address) ?? { attempt: 0, nextAt: 0, busy: false };
    dialing.set(address, slot);
    if (slot.busy || deps.now() < slot.nextAt) return;
    slot.busy = true;
    let connection: Connection | undefined;
    try {
      connection = await deps.transport.connect(parseAddress(address), settings.connectTimeoutMs);
      const link = new Link(connection, self.id, limits, handlers);
      link.send({ t: "hello", v: PROTOCOL_VERSION, cluster: settings.cluster, node: self.id, peer: self.peer, http: self.http });
      const deadline = deps.now() + settings.connectTimeoutMs;
      while (link.nodeId === undefined && !link.closed && deps.now() < deadline && !stopped) await new Promise((resolve) => setTimeout(resolve, 5));
      if (link.nodeId === undefined) {
        link.close("handshake timed out");
        throw new Error("handshake timed out");
      }
      slot.attempt = 0;
      slot.node = link.nodeId;
    } catch (error) {
      slot.attempt++;
      slot.nextAt = deps.now() + backoffDelay(slot.attempt, settings.reconnectBaseMs, settings.reconnectCapMs, deps.random);
      // The first failure in a row is worth a warning (a wrong CA or name shows up here); retries are not.
      (slot.attempt === 1 ? log.warn : log.debug).call(log, { address, attempt: slot.attempt, err: (error as Error)?.message }, "peer dial failed");
    } finally {
      slot.busy = false;
    }
  }

  /** Dials every seed and every known member that has no link, each on its own backoff. */
  function maintain(): void {
    membership.tick();
    const linkedAddresses = new Set([...links.values()].map((link) => link.peerAddress));
    const targets = new Set(seedAddresses);
    for (const member of membership.members()) if (member.id !== self.id && member.state !== "left") targets.add(member.peer);
    for (const member of membership.members()) if (links.has(member.id)) targets.delete(member.peer);
    for (const address of targets) {
      // A seed listed under another address than its node advertises is linked all the same.
      const reached = dialing.get(address)?.node;
      if (address !== self.peer && !linkedAddresses.has(address) && !(reached !== undefined && links.has(reached))) void dial(address);
    }
    for (const link of links.values()) {
      // A peer silent past failure detection on an open link may sit behind a connection that no
      // longer delivers (a middlebox forgot it, a half-dead path): close it so both sides dial afresh.
      if (membership.get(link.nodeId as string)?.state === "down") {
        link.close("peer silent past the failure timeout");
        continue;
      }
      try {
        link.send({ t: "ping", id: deps.now(), members: membership.gossip() });
      } catch { /* a full or closed link is dealt with by its own close */ }
    }
  }

  return {
    async start(listen, seeds) {
      for (const seed of seeds) seedAddresses.add(seed);
      const bound = await deps.transport.listen(listen, (connection) => {
        const link = new Link(connection, "", limits, handlers);
        // An accepted link has to say hello quickly or it is dropped.
        setTimeout(() => link.nodeId === undefined && link.close("no handshake"), settings.connectTimeoutMs);
      });
      listener = bound;
      timer = setInterval(maintain, settings.heartbeatMs);
      maintain();
      return bound.port;
    },
    async request(node, op, rid, timeoutMs = settings.requestTimeoutMs) {
      const link = links.get(node);
      if (link === undefined || link.closed) throw new PeerUnavailable(`Cannot reach ${node} as its link must be up: current link is down`);
      const breaker = breakerFor(node);
      if (!breaker.tryAcquire()) throw new PeerUnavailable(`Cannot reach ${node} as its circuit breaker must be closed: current state is ${breaker.state()}`);
      try {
        const body = await link.request(op, rid, timeoutMs);
        breaker.record(true);
        return body;
      } catch (error) {
        // Only a silent peer counts against it: a timeout on the link still in use. An error it
        // answered with does not, nor a link that closed under the request (a restart, or a
        // duplicate link replaced): later requests go to the new link or fail fast anyway.
        const silent = error instanceof PeerUnavailable && !error.answered && links.get(node) === link && !link.closed;
        breaker.record(!silent);
        throw error;
      }
    },
    isUp: (node) => links.get(node)?.closed === false,
    serial: (node) => (links.get(node)?.closed === false ? serials.get(node) : undefined),
    // Members that left are gone on purpose: no link state to report, no alert to raise.
    states: () =>
      membership.members().filter((member) => member.id !== self.id && member.state !== "left").map((member) => ({
        node: member.id,
        up: links.get(member.id)?.closed === false,
        rttMs: links.get(member.id)?.rttMs ?? 0,
        breaker: breakerFor(member.id).state(),
      })),
    announceLeave() {
      for (const link of links.values()) {
        try {
          link.send({ t: "leave", node: self.id });
        } catch { /* best effort */ }
      }
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      for (const link of links.values()) link.close("node stopping");
      await listener?.close();
    },
  };
}
