/**
 * Parity with Pomerium's own storage code: the expected lines below were produced by running the
 * same scenario against Pomerium's file backend (pkg/storage/file, DSN memory://, Pomerium
 * v0.32.9, whose filter/index/patch code matches v0.33.0 for these cases) from a throwaway Go
 * program. Go's "proto:" errors use a randomised space character; it is normalised here.
 * Type names are shortened: B = session.SessionBinding, U = user.User, ALL = "".
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { OptionsSchema, RecordSchema, type Record } from "../../gen/databroker/databroker_pb.js";
import { SessionBindingSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { parseFilter } from "../../src/query/filter-expression.js";
import { DatabrokerStorage } from "../../src/server/storage/databroker-storage.js";

const B = "type.googleapis.com/session.SessionBinding";
const U = "type.googleapis.com/user.User";

const POMERIUM_OUTPUT = [
  "B {\"user_id\":\"u\"} => [SessionBinding/b1 SessionBinding/b2]",
  "B {\"session_id\":\"s2\"} => [SessionBinding/b2]",
  "B {\"session_id\":\"s9\"} => [SessionBinding/b2]",
  "B {\"user_id\":\"\"} => [SessionBinding/b3]",
  "B {\"details\":{\"k\":\"v\"}} => [SessionBinding/b3]",
  "B {\"id\":\"b1\",\"user_id\":\"u\"} => [SessionBinding/b1]",
  "B {\"$or\":[{\"id\":\"x\"},{\"session_id\":\"s1\"}]} => [SessionBinding/b1]",
  "B {\"id\":[\"y\",\"x\",\"none\"]} => []",
  "B {\"id\":\"none\",\"x\":{\"$not\":\"y\"}} => []",
  "B {\"id\":\"x\",\"z\":{\"$not\":\"y\"}} => []",
  "B {\"id\":{\">\":\"a\"}} => [ERR rpc error: code = Unimplemented desc = operator not supported: >]",
  "B {\"id\":{\"$startsWith\":\"a\"}} => [ERR rpc error: code = Unimplemented desc = operator not supported: startsWith]",
  "B {\"$and\":{\"id\":\"x\"}} => parse: $and must be an array",
  "B {\"$or\":\"x\"} => parse: $or must be an array",
  "B {\"$and\":[{\"id\":\"x\"}]} => []",
  "B {} => []",
  "B {\"id\":1} => []",
  "B {\"id\":true} => []",
  "B {\"id\":null} => []",
  "B {\"type\":\"x\"} => []",
  "B {\"$index\":\"1.2.3.4\"} => []",
  "U {\"user_id\":\"u\"} => []",
  "U {\"session_id\":\"s2\"} => []",
  "U {\"session_id\":\"s9\"} => []",
  "U {\"user_id\":\"\"} => []",
  "U {\"details\":{\"k\":\"v\"}} => []",
  "U {\"id\":\"b1\",\"user_id\":\"u\"} => []",
  "U {\"$or\":[{\"id\":\"x\"},{\"session_id\":\"s1\"}]} => [User/x]",
  "U {\"id\":[\"y\",\"x\",\"none\"]} => [User/x User/y]",
  "U {\"id\":\"none\",\"x\":{\"$not\":\"y\"}} => []",
  "U {\"id\":\"x\",\"z\":{\"$not\":\"y\"}} => [ERR rpc error: code = Unimplemented desc = logical operator not supported: not]",
  "U {\"id\":{\">\":\"a\"}} => [ERR rpc error: code = Unimplemented desc = operator not supported: >]",
  "U {\"id\":{\"$startsWith\":\"a\"}} => [ERR rpc error: code = Unimplemented desc = operator not supported: startsWith]",
  "U {\"$and\":{\"id\":\"x\"}} => parse: $and must be an array",
  "U {\"$or\":\"x\"} => parse: $or must be an array",
  "U {\"$and\":[{\"id\":\"x\"}]} => [User/x]",
  "U {} => []",
  "U {\"id\":1} => []",
  "U {\"id\":true} => []",
  "U {\"id\":null} => []",
  "U {\"type\":\"x\"} => []",
  "U {\"$index\":\"1.2.3.4\"} => []",
  "ALL {\"user_id\":\"u\"} => []",
  "ALL {\"session_id\":\"s2\"} => []",
  "ALL {\"session_id\":\"s9\"} => []",
  "ALL {\"user_id\":\"\"} => []",
  "ALL {\"details\":{\"k\":\"v\"}} => []",
  "ALL {\"id\":\"b1\",\"user_id\":\"u\"} => []",
  "ALL {\"$or\":[{\"id\":\"x\"},{\"session_id\":\"s1\"}]} => [User/x]",
  "ALL {\"id\":[\"y\",\"x\",\"none\"]} => [User/x User/y]",
  "ALL {\"id\":\"none\",\"x\":{\"$not\":\"y\"}} => []",
  "ALL {\"id\":\"x\",\"z\":{\"$not\":\"y\"}} => [ERR rpc error: code = Unimplemented desc = logical operator not supported: not]",
  "ALL {\"id\":{\">\":\"a\"}} => [ERR rpc error: code = Unimplemented desc = operator not supported: >]",
  "ALL {\"id\":{\"$startsWith\":\"a\"}} => [ERR rpc error: code = Unimplemented desc = operator not supported: startsWith]",
  "ALL {\"$and\":{\"id\":\"x\"}} => parse: $and must be an array",
  "ALL {\"$or\":\"x\"} => parse: $or must be an array",
  "ALL {\"$and\":[{\"id\":\"x\"}]} => [User/x]",
  "ALL {} => []",
  "ALL {\"id\":1} => []",
  "ALL {\"id\":true} => []",
  "ALL {\"id\":null} => []",
  "ALL {\"type\":\"x\"} => []",
  "ALL {\"$index\":\"1.2.3.4\"} => []",
  "patch unknown => 0 storage.pebble: Patch failed: pebble: error patching record (type=type.googleapis.com/user.User id=x): pebble: error patching record: cannot patch record: cannot overwrite unknown field \"nope\" in message user.User",
  "patch sub => 0 storage.pebble: Patch failed: pebble: error patching record (type=type.googleapis.com/user.User id=x): pebble: error patching record: cannot patch record: cannot overwrite sub-fields of field \"name\" in message user.User",
  "patch mismatch => 0 <nil>",
  "patch missing => 0 <nil>",
  "patch garbage => 0 storage.pebble: Patch failed: pebble: error patching record (type=type.googleapis.com/user.User id=x): pebble: error patching record: could not unmarshal new record data: proto: cannot parse invalid wire-format data",
  "patch nodata => 0 storage.pebble: Patch failed: pebble: error patching record (type=type.googleapis.com/user.User id=x): pebble: error patching record: could not unmarshal new record data: proto: invalid empty type URL",
  "patch unknowntype => 0 storage.pebble: Patch failed: pebble: error patching record (type=type.googleapis.com/user.User id=x): pebble: error patching record: could not unmarshal new record data: proto: not found",
  "cap change c v=1 deleted=false",
  "cap change a v=2 deleted=false",
  "cap change b v=3 deleted=false",
  "cap change d v=4 deleted=false",
  "cap change a v=5 deleted=true",
  "cap change c v=6 deleted=true"
];

const QUERIES = [
  `{"user_id":"u"}`, `{"session_id":"s2"}`, `{"session_id":"s9"}`, `{"user_id":""}`, `{"details":{"k":"v"}}`,
  `{"id":"b1","user_id":"u"}`, `{"$or":[{"id":"x"},{"session_id":"s1"}]}`, `{"id":["y","x","none"]}`,
  `{"id":"none","x":{"$not":"y"}}`, `{"id":"x","z":{"$not":"y"}}`, `{"id":{">":"a"}}`, `{"id":{"$startsWith":"a"}}`,
  `{"$and":{"id":"x"}}`, `{"$or":"x"}`, `{"$and":[{"id":"x"}]}`, `{}`, `{"id":1}`, `{"id":true}`, `{"id":null}`,
  `{"type":"x"}`, `{"$index":"1.2.3.4"}`,
];

function runScenario(): string[] {
  const s = new DatabrokerStorage({ installDefaultOptions: false });
  const binding = (id: string, f: MessageInitShape<typeof SessionBindingSchema>) => create(RecordSchema, { type: B, id, data: anyPack(SessionBindingSchema, create(SessionBindingSchema, f)) });
  const usr = (id: string, f: MessageInitShape<typeof UserSchema>) => create(RecordSchema, { type: U, id, data: anyPack(UserSchema, create(UserSchema, f)) });
  s.setOptions(B, create(OptionsSchema, { indexableFields: ["session_id", "user_id"] }));
  s.put([
    binding("b1", { sessionId: "s1", userId: "u" }),
    binding("b2", { sessionId: "s2", userId: "u" }),
    binding("b3", { sessionId: "s3", details: { k: "v" } }),
    usr("x", { id: "x", name: "X" }),
    usr("y", { id: "y", name: "Y" }),
  ]);
  // Delete b2 with different data than stored: Pomerium drops index entries computed from the request.
  const del = binding("b2", { sessionId: "zz", userId: "zz" });
  del.deletedAt = timestampFromMs(Date.now());
  s.put([del]);
  // Re-create b2 with other data: the stale (s2, u) entries now point at it.
  s.put([binding("b2", { sessionId: "s9", userId: "w" })]);
  s.setOptions(B, create(OptionsSchema, { indexableFields: ["session_id", "user_id", "details.k"] }));

  const lines: string[] = [];
  for (const [label, type] of [["B", B], ["U", U], ["ALL", ""]] as const) {
    for (const q of QUERIES) {
      let filter;
      try {
        filter = parseFilter(JSON.parse(q));
      } catch (err) {
        lines.push(`${label} ${q} => parse: ${(err as Error).message}`);
        continue;
      }
      const seq = s.queryRecords(type, filter);
      const out = seq.items.map((r: Record) => `${r.type.slice(r.type.lastIndexOf(".") + 1)}/${r.id}`);
      if (seq.error) out.push(`ERR ${seq.error.message}`);
      lines.push(`${label} ${q} => [${out.join(" ")}]`);
    }
  }
  const patch = (label: string, rec: Record, ...paths: string[]) => {
    try {
      lines.push(`patch ${label} => ${s.patch([rec], paths).records.length} <nil>`);
    } catch (err) {
      lines.push(`patch ${label} => 0 ${(err as Error).message}`);
    }
  };
  patch("unknown", usr("x", {}), "nope");
  patch("sub", usr("x", {}), "name.x");
  patch("mismatch", binding("x", {}), "name");
  patch("missing", usr("nope", {}), "name");
  patch("garbage", create(RecordSchema, { type: U, id: "x", data: { typeUrl: "type.googleapis.com/user.User", value: new Uint8Array([0xff]) } }), "name");
  patch("nodata", create(RecordSchema, { type: U, id: "x" }), "name");
  patch("unknowntype", create(RecordSchema, { type: U, id: "x", data: { typeUrl: "type.googleapis.com/x.Y" } }), "name");
  s.setOptions("cap", create(OptionsSchema, { capacity: 2n }));
  s.put(["c", "a", "b", "d"].map((id) => create(RecordSchema, { type: "cap", id })));
  const latest = s.versions().latestRecordVersion;
  for (const r of s.changesAfter("cap", latest - 6n)) lines.push(`cap change ${r.id} v=${r.version - latest + 6n} deleted=${r.deletedAt !== undefined}`);
  return lines;
}

describe("parity with Pomerium's file/memory storage", () => {
  it("selects, fails, patches and evicts exactly as Pomerium's code does in one scenario", () => {
    expect(runScenario()).toEqual(POMERIUM_OUTPUT);
  });
});
