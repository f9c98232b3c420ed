/**
 * Parsers for the value syntaxes of the environment: sizes, durations and addresses.
 * Each throws an Error whose message completes "Cannot use VARIABLE as ...".
 */

const SIZE_UNITS: Record<string, number> = { "": 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `1048576`, `512KiB`, `256MiB` or `2GiB` into bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+)\s*(B|KiB|MiB|GiB)?$/.exec(text.trim());
  if (match === null) throw new Error(`it must be bytes or a number with KiB, MiB or GiB: current value is '${text}'`);
  const bytes = Number(match[1]) * SIZE_UNITS[match[2] ?? ""];
  if (!Number.isSafeInteger(bytes)) throw new Error(`it must be a safe integer number of bytes: current value is '${text}'`);
  return bytes;
}

/** Parses `250ms`, `5s`, `10m`, `1h`, `30d` (or bare seconds, like `0` or `60`) into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (match === null) throw new Error(`it must be a duration like 250ms, 5s, 10m, 1h or 30d: current value is '${text}'`);
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? "s"]);
}

/** A host and port to listen on or connect to. */
export interface Address {
  host: string;
  port: number;
}

/** Parses `host:port` or `[ipv6]:port`; port 0 asks for an ephemeral port. */
export function parseAddress(text: string): Address {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) throw new Error(`it must be host:port or [ipv6]:port with a port up to 65535: current value is '${text}'`);
  return { host: match[1] ?? match[2], port };
}

/** True for addresses only reachable from this host: 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Formats an address back to `host:port`, bracketing IPv6. */
export function formatAddress(address: Address): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
