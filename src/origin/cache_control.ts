/** What an origin response's `Cache-Control` and `Age` say about storing it. */
export interface Freshness {
  /** False for `no-store`, `private` or `no-cache`: serve it, never keep it. */
  storable: boolean;
  /** Remaining freshness in ms from `s-maxage`, else `max-age` (minus `Age`); undefined when neither is given. */
  ttlMs?: number;
}

function directiveSeconds(directives: Map<string, string | undefined>, name: string): number | undefined {
  const value = directives.get(name);
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Reads `Cache-Control` as a shared cache should (RFC 9111): `s-maxage` wins over `max-age`;
 * `no-store`, `private` and `no-cache` make a response unstorable here (no revalidation yet).
 */
export function parseFreshness(cacheControl: string | null, age: string | null): Freshness {
  const directives = new Map<string, string | undefined>();
  for (const part of (cacheControl ?? "").split(",")) {
    const [rawName, rawValue] = part.split("=", 2);
    const name = rawName.trim().toLowerCase();
    if (name.length > 0) directives.set(name, rawValue?.trim().replace(/^"|"$/g, ""));
  }
  const storable = !directives.has("no-store") && !directives.has("private") && !directives.has("no-cache");
  const seconds = directiveSeconds(directives, "s-maxage") ?? directiveSeconds(directives, "max-age");
  if (seconds === undefined) return { storable };
  const ageSeconds = age !== null && /^\d+$/.test(age.trim()) ? Number(age.trim()) : 0;
  return { storable, ttlMs: Math.max(0, seconds - ageSeconds) * 1000 };
}
