import { z } from "zod";
import type { ReadOutcome } from "../origin/read_through.ts";
import { wireEntrySchema } from "./frames.ts";
import { FrameInvalid } from "./frame_codec.ts";
import { fromWire, toWire } from "./wire.ts";

const outcomeSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("hit"), entry: wireEntrySchema }),
  z.object({ kind: z.literal("fetched"), entry: wireEntrySchema, stored: z.boolean(), collapsed: z.boolean() }),
  z.object({ kind: z.literal("stale"), entry: wireEntrySchema, staleMs: z.number(), reason: z.enum(["stale-while-revalidate", "stale-if-error"]) }),
  z.object({ kind: z.literal("absent"), cached: z.boolean(), collapsed: z.boolean(), stored: z.boolean() }),
  z.object({ kind: z.literal("miss") }),
]);

/** A read's outcome as an owner sends it back to the node that forwarded the read. */
export function outcomeToWire(key: string, outcome: ReadOutcome): unknown {
  switch (outcome.kind) {
    case "hit":
      return { kind: "hit", entry: toWire(key, outcome.entry) };
    case "fetched":
      return { kind: "fetched", entry: toWire(key, outcome.entry), stored: outcome.stored, collapsed: outcome.collapsed };
    case "stale":
      return { kind: "stale", entry: toWire(key, outcome.entry), staleMs: outcome.staleMs, reason: outcome.reason };
    default:
      return outcome;
  }
}

/** Checks and rebuilds an owner's answer to a forwarded read. */
export function outcomeFromWire(body: unknown): ReadOutcome {
  const parsed = outcomeSchema.safeParse(body);
  if (!parsed.success) throw new FrameInvalid("Cannot use the owner's answer as it must be a read outcome: current answer is not");
  const wire = parsed.data;
  switch (wire.kind) {
    case "hit":
      return { kind: "hit", entry: fromWire(wire.entry) };
    case "fetched":
      return { kind: "fetched", entry: fromWire(wire.entry), stored: wire.stored, collapsed: wire.collapsed };
    case "stale":
      return { kind: "stale", entry: fromWire(wire.entry), staleMs: wire.staleMs, reason: wire.reason };
    default:
      return wire;
  }
}
