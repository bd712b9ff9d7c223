import { describe, expect, it } from "vitest";
import { parseIpAddress, parseIpPrefix, prefixContainsPrefix } from "../../src/query/ip-prefix.js";

describe("parseIpAddress (Go netip rules)", () => {
  it("accepts dotted IPv4 and rejects leading zeros or out-of-range octets", () => {
    expect(parseIpAddress("10.1.2.3")).toEqual(new Uint8Array([10, 1, 2, 3]));
    expect(parseIpAddress("010.1.2.3")).toBeUndefined();
    expect(parseIpAddress("256.1.2.3")).toBeUndefined();
    expect(parseIpAddress("1.2.3")).toBeUndefined();
    expect(parseIpAddress("")).toBeUndefined();
    expect(parseIpAddress("not an ip")).toBeUndefined();
  });
  it("accepts IPv6 forms, embedded IPv4 and zones", () => {
    expect(parseIpAddress("::1")?.[15]).toBe(1);
    expect(parseIpAddress("2001:db8::")?.slice(0, 4)).toEqual(new Uint8Array([0x20, 0x01, 0x0d, 0xb8]));
    expect(parseIpAddress("::ffff:1.2.3.4")?.slice(10)).toEqual(new Uint8Array([0xff, 0xff, 1, 2, 3, 4]));
    expect(parseIpAddress("fe80::1%eth0")?.[0]).toBe(0xfe);
    expect(parseIpAddress("1:2:3:4:5:6:7:8")?.length).toBe(16);
  });
  it("rejects malformed IPv6", () => {
    expect(parseIpAddress("1::2::3")).toBeUndefined();
    expect(parseIpAddress("1:2:3:4:5:6:7::8")).toBeUndefined();
    expect(parseIpAddress("12345::")).toBeUndefined();
    expect(parseIpAddress("1:2:3")).toBeUndefined();
  });
});

describe("parseIpPrefix", () => {
  it("parses addr/bits and keeps host bits", () => {
    expect(parseIpPrefix("10.1.2.3/8")).toEqual({ bytes: new Uint8Array([10, 1, 2, 3]), bits: 8 });
    expect(parseIpPrefix("2001:db8::/32")?.bits).toBe(32);
  });
  it("rejects bad lengths, zones and bare addresses", () => {
    expect(parseIpPrefix("10.0.0.0/33")).toBeUndefined();
    expect(parseIpPrefix("10.0.0.0/08")).toBeUndefined();
    expect(parseIpPrefix("10.0.0.0/")).toBeUndefined();
    expect(parseIpPrefix("10.0.0.0")).toBeUndefined();
    expect(parseIpPrefix("fe80::1%eth0/64")).toBeUndefined();
  });
  it("checks containment within one address family", () => {
    const p8 = parseIpPrefix("10.0.0.0/8")!;
    expect(prefixContainsPrefix(p8, parseIpPrefix("10.9.0.0/16")!)).toBe(true);
    expect(prefixContainsPrefix(p8, parseIpPrefix("11.0.0.0/16")!)).toBe(false);
    expect(prefixContainsPrefix(parseIpPrefix("10.9.0.0/16")!, p8)).toBe(false);
    expect(prefixContainsPrefix(parseIpPrefix("::/0")!, p8)).toBe(false);
  });
});
