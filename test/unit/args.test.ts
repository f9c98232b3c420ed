import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseFlags, UsageError } from "../../src/cli/args.ts";

const SPEC = { values: ["sub", "ttl", "url"], repeatable: ["prefix"], switches: ["json", "help"] };

describe("parseFlags()", () => {
  test("parseFlags() reads --name value", () => {
    const parsed = parseFlags(["--sub", "alice", "--ttl", "1h"], SPEC);
    assert.equal(parsed.values.get("sub"), "alice");
    assert.equal(parsed.values.get("ttl"), "1h");
  });

  test("parseFlags() reads --name=value, keeping any further = in the value", () => {
    const parsed = parseFlags(["--url=http://h:1/?a=b", "--sub="], SPEC);
    assert.equal(parsed.values.get("url"), "http://h:1/?a=b");
    assert.equal(parsed.values.get("sub"), "", "an explicit empty value is a value");
  });

  test("parseFlags() lets the last of a repeated value flag win", () => {
    assert.equal(parseFlags(["--sub", "a", "--sub=b"], SPEC).values.get("sub"), "b");
  });

  test("parseFlags() collects every value of a repeatable flag in order", () => {
    const parsed = parseFlags(["--prefix", "a/", "--sub", "x", "--prefix=b/", "--prefix", "c/"], SPEC);
    assert.deepEqual(parsed.lists.get("prefix"), ["a/", "b/", "c/"]);
    assert.equal(parsed.values.has("prefix"), false);
  });

  test("parseFlags() records switches without consuming the next argument", () => {
    const parsed = parseFlags(["--json", "--sub", "alice"], SPEC);
    assert.deepEqual(Array.from(parsed.switches), ["json"]);
    assert.equal(parsed.values.get("sub"), "alice");
  });

  test("parseFlags() of no arguments returns empty results", () => {
    const parsed = parseFlags([], SPEC);
    assert.equal(parsed.values.size, 0);
    assert.equal(parsed.lists.size, 0);
    assert.equal(parsed.switches.size, 0);
  });

  test("parseFlags() refuses an unknown flag with UsageError", () => {
    assert.throws(() => parseFlags(["--nope", "x"], SPEC), UsageError);
    assert.throws(() => parseFlags(["--nope"], SPEC), UsageError);
  });

  test("parseFlags() refuses a value flag with no value with UsageError", () => {
    assert.throws(() => parseFlags(["--sub"], SPEC), UsageError);
    assert.throws(() => parseFlags(["--json", "--prefix"], SPEC), UsageError);
  });

  test("parseFlags() refuses a value given to a switch with UsageError", () => {
    assert.throws(() => parseFlags(["--json=true"], SPEC), UsageError);
  });

  test("parseFlags() refuses positional arguments, single-dash and malformed flags with UsageError", () => {
    for (const args of [["alice"], ["-s", "x"], ["--"], ["--Sub", "x"], ["---sub", "x"], ["--sub", "a", "extra"]]) {
      assert.throws(() => parseFlags(args, SPEC), UsageError, JSON.stringify(args));
    }
  });

  test("UsageError is an Error named UsageError", () => {
    const error = new UsageError("x");
    assert.ok(error instanceof Error);
    assert.equal(error.name, "UsageError");
  });
});
