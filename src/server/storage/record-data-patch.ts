/**
 * Patch's data step (Pomerium's storage.PatchRecord): decode the stored and the incoming data,
 * which must be the same message type, overwrite the masked fields, and pack the result. Errors
 * carry Go's wording, since the server passes them through (as UNKNOWN).
 */
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import { DataDecodeError, decodeAnyData } from "../../query/data-registry.js";
import { FieldMaskError, overwriteMasked } from "./field-mask-patch.js";

export function patchRecordData(existing: Any | undefined, incoming: Any | undefined, paths: readonly string[]): Any {
  let dst;
  try {
    dst = decodeAnyData(existing);
  } catch (err) {
    throw new Error(`could not unmarshal existing record data: ${describe(err)}`);
  }
  let src;
  try {
    src = decodeAnyData(incoming);
  } catch (err) {
    throw new Error(`could not unmarshal new record data: ${describe(err)}`);
  }
  try {
    const patched = overwriteMasked(dst.schema, dst.message, src.schema, src.message, paths);
    return anyPack(dst.schema, patched);
  } catch (err) {
    if (err instanceof FieldMaskError) throw new Error(`cannot patch record: ${err.message}`);
    throw err;
  }
}

function describe(err: unknown): string {
  if (err instanceof DataDecodeError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
