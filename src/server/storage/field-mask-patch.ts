/**
 * Patch's field-mask overwrite (Pomerium's protoutil.OverwriteMasked, spec 8): for each mask
 * path (protobuf field names, dotted only through singular message fields), the destination
 * field is replaced wholesale by the source's, or cleared when the source lacks it.
 */
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { clone } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";

/** A malformed mask or mismatched messages; Go returns these as plain errors (UNKNOWN). */
export class FieldMaskError extends Error {
  override readonly name = "FieldMaskError";
}

type MaskTree = Map<string, MaskTree>;

function buildTree(paths: readonly string[]): MaskTree {
  const root: MaskTree = new Map();
  for (const path of paths) {
    let node = root;
    let covered = false;
    for (const part of path.split(".")) {
      let child = node.get(part);
      if (child === undefined) {
        child = new Map();
        node.set(part, child);
      } else if (child.size === 0) {
        covered = true; // a shorter path already replaces this whole field
        break;
      }
      node = child;
    }
    if (!covered) node.clear();
  }
  return root;
}

/**
 * Returns a copy of `dst` with the masked fields taken from `src`. Both must be the same message
 * type. An absent or empty mask changes nothing.
 */
export function overwriteMasked(schema: DescMessage, dst: Message, srcSchema: DescMessage, src: Message, paths: readonly string[]): Message {
  if (schema.typeName !== srcSchema.typeName) {
    throw new FieldMaskError(`descriptor mismatch: ${schema.typeName}, ${srcSchema.typeName}`);
  }
  const out = clone(schema, dst);
  overwrite(buildTree(paths), reflect(schema, out), reflect(srcSchema, src));
  return out;
}

function overwrite(tree: MaskTree, dst: ReflectMessage, src: ReflectMessage): void {
  if (dst.desc.typeName !== src.desc.typeName) {
    throw new FieldMaskError(`descriptor mismatch: ${dst.desc.typeName}, ${src.desc.typeName}`);
  }
  for (const [name, subTree] of tree) {
    const field = dst.fields.find((f) => f.name === name);
    if (field === undefined) {
      throw new FieldMaskError(`cannot overwrite unknown field ${JSON.stringify(name)} in message ${dst.desc.typeName}`);
    }
    const srcField = src.fields.find((f) => f.name === name);
    if (srcField === undefined) throw new FieldMaskError(`descriptor mismatch: ${dst.desc.typeName}, ${src.desc.typeName}`);
    if (subTree.size > 0) {
      if (field.fieldKind !== "message") {
        throw new FieldMaskError(`cannot overwrite sub-fields of field ${JSON.stringify(field.name)} in message ${dst.desc.typeName}`);
      }
      if (!dst.isSet(field) && !src.isSet(srcField)) continue;
      if (!dst.isSet(field)) dst.set(field, dst.get(field)); // materialise the nested message
      overwrite(subTree, dst.get(field), src.get(srcField) as ReflectMessage);
      continue;
    }
    if (src.isSet(srcField)) dst.set(field, src.get(srcField) as never);
    else dst.clear(field);
  }
}
