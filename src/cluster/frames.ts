import { z } from "zod";
import { FrameInvalid } from "./frame_codec.ts";

/**
 * The peer protocol version; a handshake with any other version is refused. 2 added the catch-up
 * operations (`peek`, `offer`, `synced`), which a version-1 node would take for a broken frame.
 */
export const PROTOCOL_VERSION = 2;

const nodeId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/);
const address = z.string().max(300);
const key = z.string().min(1).max(65536);
const bytes = z.instanceof(Uint8Array);
const id = z.number().int().nonnegative().max(2 ** 53);
const hlc = z.number().int().nonnegative().max(2 ** 53);
const node32 = z.number().int().nonnegative().max(2 ** 32);
const tags = z.array(z.string().max(128)).max(32);
const etags = z.union([z.literal("*"), z.array(z.string().max(256)).max(64)]);

/** A member as gossiped between nodes. */
export const memberInfoSchema = z.object({ id: nodeId, peer: address, http: address, state: z.enum(["alive", "suspect", "down", "left"]) }).strict();
export type MemberInfo = z.infer<typeof memberInfoSchema>;

/** An entry on the wire: everything a replica needs to store it with the same version. */
export const wireEntrySchema = z.object({
  k: key,
  v: bytes,
  ct: z.string().max(256),
  tags,
  hlc,
  node: node32,
  sa: z.number(),
  ea: z.number(),
  neg: z.boolean().optional(),
}).strict();
export type WireEntry = z.infer<typeof wireEntrySchema>;

/** A delete on the wire: key and the version it happened at. */
export const wireDeleteSchema = z.tuple([key, hlc, node32]);

const preconditions = z.object({ ifMatch: etags.optional(), ifNoneMatch: etags.optional() }).strict();

/** Operations one node asks of another. */
export const opSchema = z.discriminatedUnion("op", [
  /** Read a key as its owner: from the store, or through the origin once per cluster. */
  z.object({ op: z.literal("get"), key }).strict(),
  /** Coordinate a client write as the key's primary (preconditions decided here). */
  z.object({ op: z.literal("put"), key, v: bytes, ct: z.string().max(256), tags, ttl: z.number().int().nonnegative(), pre: preconditions.optional() }).strict(),
  /** Coordinate a client delete as the key's primary. */
  z.object({ op: z.literal("delete"), key, pre: preconditions.optional() }).strict(),
  /** Store replicated or handed-off entries and deletes, newest version wins. */
  z.object({ op: z.literal("apply"), entries: z.array(wireEntrySchema).max(10_000), deletes: z.array(wireDeleteSchema).max(100_000) }).strict(),
  /** Invalidate locally; counts only keys this node is primary for. */
  z.object({ op: z.literal("invalidate"), prefix: key.optional(), tags: z.array(z.string().max(128)).max(1000).optional(), allow: z.array(z.string()).max(1000).optional() }).strict(),
  /** Flush locally; counts only keys this node is primary for. */
  z.object({ op: z.literal("flush") }).strict(),
  /** Describe this node's copy of a key. */
  z.object({ op: z.literal("explain"), key }).strict(),
  /** This node's copy of a key or its delete, from the store only (never the origin). */
  z.object({ op: z.literal("peek"), key }).strict(),
  /** Versions the sender holds (a sync): the receiver answers which ones it lacks. */
  z.object({ op: z.literal("offer"), keys: z.array(z.tuple([key, hlc, node32])).max(10_000) }).strict(),
  /** The sender has sent every entry it holds that the receiver owns (end of a sync). */
  z.object({ op: z.literal("synced") }).strict(),
]);
export type Op = z.infer<typeof opSchema>;

/** The answer to `peek`: the entry held, or the version of the delete remembered, or neither. */
export const peekAnswerSchema = z.object({ entry: wireEntrySchema.optional(), deleted: z.tuple([hlc, node32]).optional() }).strict();
export type PeekAnswer = z.infer<typeof peekAnswerSchema>;

/** The answer to `offer`: positions (in the offer) of the versions the receiver lacks, ascending. */
export const offerAnswerSchema = z.object({ want: z.array(z.number().int().nonnegative().max(9_999)).max(10_000) }).strict();
export type OfferAnswer = z.infer<typeof offerAnswerSchema>;

/** Every frame of the protocol. */
export const frameSchema = z.discriminatedUnion("t", [
  z.object({ t: z.literal("hello"), v: z.number().int(), cluster: z.string().max(128), node: nodeId, peer: address, http: address }).strict(),
  z.object({ t: z.literal("welcome"), v: z.number().int(), node: nodeId, peer: address, http: address, members: z.array(memberInfoSchema).max(1024) }).strict(),
  z.object({ t: z.literal("refuse"), reason: z.string().max(512) }).strict(),
  z.object({ t: z.literal("ping"), id, members: z.array(memberInfoSchema).max(1024) }).strict(),
  z.object({ t: z.literal("pong"), id, members: z.array(memberInfoSchema).max(1024) }).strict(),
  z.object({ t: z.literal("req"), id, rid: z.string().max(128), op: opSchema }).strict(),
  z.object({ t: z.literal("res"), id, ok: z.literal(true), body: z.unknown() }).strict(),
  z.object({ t: z.literal("err"), id, code: z.string().max(64), message: z.string().max(2048) }).strict(),
  z.object({ t: z.literal("leave"), node: nodeId }).strict(),
]);
export type Frame = z.infer<typeof frameSchema>;

/** Checks a decoded frame against the protocol; throws FrameInvalid naming what is wrong. */
export function parseFrame(value: unknown): Frame {
  const result = frameSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new FrameInvalid(`Cannot accept the frame as it must match the protocol: current problem is ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return result.data;
}
