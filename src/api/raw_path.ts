/**
 * The rest of a request URL's path after `prefix` (e.g. "/v1/kv/"), still percent-encoded so the
 * key's decoding is ours and canonical. Anchored at the start of the path: a later occurrence of
 * the prefix (in the query, say) never counts. "" when the path does not start with `prefix`.
 */
export function rawPathAfter(url: string, prefix: string): string {
  const path = url.indexOf("/", url.indexOf("//") + 2);
  if (path === -1 || !url.startsWith(prefix, path)) return "";
  const start = path + prefix.length;
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}
