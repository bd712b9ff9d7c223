/**
 * Which record data the replica refuses at ingest: bytes of a message type the SDK knows that do
 * not even parse at the top level (what the index scan reads). Unknown types stay opaque and are
 * never judged; subtler damage (a bad nested field) still decodes to undefined on read.
 */
import { schemaForTypeUrl } from "./record-registry.js";
import { isWellFormedWire } from "./wire-scan.js";

export function isMalformedRecordData(typeUrl: string, bytes: Uint8Array): boolean {
  if (bytes.length === 0 || schemaForTypeUrl(typeUrl) === undefined) return false;
  return !isWellFormedWire(bytes);
}
