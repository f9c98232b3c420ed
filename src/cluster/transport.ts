/**
 * The byte transport under peer links. Production uses mutual TLS (`src/runtime/node_tls.ts`);
 * unit tests use an in-memory transport that can delay, drop, reorder and cut
 * (`test/helpers/chaos_transport.ts`). One contract suite runs against each.
 */

/** A host and port. */
export interface TransportAddress {
  host: string;
  port: number;
}

/** A bidirectional byte stream to one peer. */
export interface Connection {
  /** The peer's identity as the transport proved it (TLS: its certificate's subject CN). */
  readonly peerIdentity: string | undefined;
  /** The peer's address, for logs. */
  readonly remoteAddress: string;
  /** Queues bytes; false means the transport's buffer is full and the caller should wait for drain. */
  write(bytes: Uint8Array): boolean;
  /** Receives bytes in order; chunk boundaries mean nothing. */
  onData(listener: (chunk: Uint8Array) => void): void;
  /** Called when a full buffer has room again. */
  onDrain(listener: () => void): void;
  /** Called once when the connection ends, for any reason. */
  onClose(listener: (error?: Error) => void): void;
  /** Ends the connection. */
  close(): void;
}

/** A listening endpoint. */
export interface TransportListener {
  /** The port actually bound. */
  readonly port: number;
  /** Stops accepting new connections; connections already accepted stay open until their owner closes them. */
  close(): Promise<void>;
}

/** Opens and accepts authenticated connections. */
export interface Transport {
  /** Accepts connections; only peers the transport authenticated reach `onConnection`. */
  listen(address: TransportAddress, onConnection: (connection: Connection) => void): Promise<TransportListener>;
  /** Connects and authenticates, or rejects within `timeoutMs`. */
  connect(address: TransportAddress, timeoutMs: number): Promise<Connection>;
}

/** PEM material for mutual TLS. */
export interface TlsCredentials {
  /** This node's certificate chain. */
  cert: string;
  /** This node's private key. */
  key: string;
  /** The CA that signs every node's certificate; peers signed by anything else are refused. */
  ca: string;
}
