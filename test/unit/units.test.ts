import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatAddress, isLoopback, parseAddress, parseDuration, parseSize } from "../../src/config/units.ts";

describe("parseSize()", () => {
  test("parseSize() reads plain bytes, with or without a B suffix", () => {
    assert.equal(parseSize("0"), 0);
    assert.equal(parseSize("1"), 1);
    assert.equal(parseSize("1048576"), 1048576);
    assert.equal(parseSize("10B"), 10);
  });

  test("parseSize() multiplies KiB, MiB and GiB by powers of 1024", () => {
    assert.equal(parseSize("1KiB"), 1024);
    assert.equal(parseSize("512KiB"), 512 * 1024);
    assert.equal(parseSize("1MiB"), 1024 ** 2);
    assert.equal(parseSize("256MiB"), 256 * 1024 ** 2);
    assert.equal(parseSize("2GiB"), 2 * 1024 ** 3);
  });

  test("parseSize() tolerates surrounding whitespace and a space before the unit", () => {
    assert.equal(parseSize(" 5 MiB "), 5 * 1024 ** 2);
  });

  test("parseSize() refuses decimal (KB/MB), lower-case, fractional, negative and empty sizes", () => {
    for (const bad of ["1KB", "1MB", "1kib", "1mib", "1.5MiB", "-1", "", "MiB", "1 GiB extra", "0x10", "1e3"]) {
      assert.throws(() => parseSize(bad), Error, `expected '${bad}' to be refused`);
    }
  });

  test("parseSize() refuses sizes beyond a safe integer number of bytes", () => {
    assert.throws(() => parseSize("99999999999GiB"), Error);
    assert.throws(() => parseSize("9007199254740993"), Error);
  });
});

describe("parseDuration()", () => {
  test("parseDuration() converts ms, s, m, h and d to milliseconds", () => {
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("5s"), 5_000);
    assert.equal(parseDuration("10m"), 600_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("30d"), 30 * 86_400_000);
  });

  test("parseDuration() reads a bare number as seconds", () => {
    assert.equal(parseDuration("0"), 0);
    assert.equal(parseDuration("60"), 60_000);
  });

  test("parseDuration() accepts fractions and rounds to whole milliseconds", () => {
    assert.equal(parseDuration("1.5s"), 1_500);
    assert.equal(parseDuration("0.0004s"), 0);
    assert.equal(parseDuration("0.5ms"), 1);
  });

  test("parseDuration() refuses unknown units, negatives and empty text", () => {
    for (const bad of ["5x", "5sec", "1w", "-1s", "", "s", "1 h 2", "1H", ".5s"]) {
      assert.throws(() => parseDuration(bad), Error, `expected '${bad}' to be refused`);
    }
  });
});

describe("parseAddress()", () => {
  test("parseAddress() splits host:port", () => {
    assert.deepEqual(parseAddress("127.0.0.1:8080"), { host: "127.0.0.1", port: 8080 });
    assert.deepEqual(parseAddress("example.com:443"), { host: "example.com", port: 443 });
    assert.deepEqual(parseAddress("0.0.0.0:0"), { host: "0.0.0.0", port: 0 });
  });

  test("parseAddress() unbrackets IPv6 hosts such as [::1]:80", () => {
    assert.deepEqual(parseAddress("[::1]:80"), { host: "::1", port: 80 });
    assert.deepEqual(parseAddress("[2001:db8::1]:65535"), { host: "2001:db8::1", port: 65535 });
  });

  test("parseAddress() refuses a missing port, a port above 65535, unbracketed IPv6 and junk", () => {
    for (const bad of ["localhost", "localhost:", ":80", "host:65536", "host:123456", "::1:80", "[::1]", "[::1]80", "a b:80", "host:-1", "host:http", ""]) {
      assert.throws(() => parseAddress(bad), Error, `expected '${bad}' to be refused`);
    }
  });

  test("formatAddress() round-trips parseAddress(), bracketing IPv6", () => {
    for (const text of ["127.0.0.1:8080", "[::1]:80", "[2001:db8::1]:7070", "node-1.internal:7070"]) {
      assert.equal(formatAddress(parseAddress(text)), text);
    }
  });
});

describe("isLoopback()", () => {
  test("isLoopback() accepts 127.0.0.0/8, ::1 and localhost", () => {
    for (const host of ["127.0.0.1", "127.5.6.7", "127.255.255.255", "::1", "localhost"]) {
      assert.equal(isLoopback(host), true, host);
    }
  });

  test("isLoopback() refuses wildcard, private, public and look-alike hosts", () => {
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.1", "8.8.8.8", "128.0.0.1", "localhost.example.com", "127.0.0.1.nip.io", "example.com"]) {
      assert.equal(isLoopback(host), false, host);
    }
  });
});
