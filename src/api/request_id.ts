/** Picks the request id of each request. */
export interface RequestIds {
  /** The client's `X-Request-Id` when it is a sane token, else a new id. */
  pick(header: string | null): string;
}

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request ids: a client's id is kept when safe to log, otherwise one is made from a random
 * per-process prefix and a counter, which is unique per node and costs no entropy per request.
 */
export function createRequestIds(): RequestIds {
  const prefix = crypto.randomUUID().slice(0, 8);
  let counter = 0;
  return {
    pick(header) {
      if (header !== null && SAFE_ID.test(header)) return header;
      counter++;
      return `${prefix}-${counter.toString(36)}`;
    },
  };
}
