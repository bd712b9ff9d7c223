/**
 * Test-only message types for the record data decoder, built from descriptors at run time: the
 * field kinds the registered record types do not have (every scalar type, packed and unpacked
 * repeated scalars, maps with integer and bool keys, enum maps, jstype=JS_STRING, a field number
 * above 1024, Struct fields held as JSON in lists and maps), and kinds the decoder leaves to
 * fromBinary (a wrapper field, a proto2 message with a custom default).
 */
import { create, createFileRegistry, type DescMessage } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FieldOptions_JSType,
  FileDescriptorProtoSchema,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  type FieldDescriptorProtoJson,
} from "@bufbuild/protobuf/wkt";

interface FieldSpec {
  name: string;
  number: number;
  type: Type;
  label?: Label;
  typeName?: string;
  oneofIndex?: number;
  proto3Optional?: boolean;
  options?: { jstype?: FieldOptions_JSType; packed?: boolean };
}

const field = (name: string, number: number, type: Type, more: Partial<FieldSpec> = {}): FieldSpec => ({ name, number, type, label: Label.OPTIONAL, ...more });
const repeated = (name: string, number: number, type: Type, more: Partial<FieldSpec> = {}): FieldSpec => field(name, number, type, { label: Label.REPEATED, ...more });

/** A map field and its entry type. */
function mapField(name: string, number: number, key: Type, value: Type, valueTypeName?: string): { field: FieldSpec; entry: object } {
  const entryName = `${name.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase())}Entry`;
  return {
    field: repeated(name, number, Type.MESSAGE, { typeName: `.test.Kitchen.${entryName}` }),
    entry: {
      name: entryName,
      field: [field("key", 1, key), field("value", 2, value, valueTypeName === undefined ? {} : { typeName: valueTypeName })],
      options: { mapEntry: true },
    },
  };
}

const maps = [
  mapField("m_string_int32", 31, Type.STRING, Type.INT32),
  mapField("m_int64_string", 32, Type.INT64, Type.STRING),
  mapField("m_bool_bytes", 33, Type.BOOL, Type.BYTES),
  mapField("m_uint32_enum", 34, Type.UINT32, Type.ENUM, ".test.Color"),
  mapField("m_string_kitchen", 35, Type.STRING, Type.MESSAGE, ".test.Kitchen"),
  mapField("m_sint32_double", 36, Type.SINT32, Type.DOUBLE),
  mapField("m_fixed64_string", 37, Type.FIXED64, Type.STRING),
  mapField("m_string_struct", 45, Type.STRING, Type.MESSAGE, ".google.protobuf.Struct"),
];

const kitchenFields: FieldSpec[] = [
  field("f_double", 1, Type.DOUBLE),
  field("f_float", 2, Type.FLOAT),
  field("f_int64", 3, Type.INT64),
  field("f_uint64", 4, Type.UINT64),
  field("f_int32", 5, Type.INT32),
  field("f_fixed64", 6, Type.FIXED64),
  field("f_fixed32", 7, Type.FIXED32),
  field("f_bool", 8, Type.BOOL),
  field("f_string", 9, Type.STRING),
  field("f_bytes", 10, Type.BYTES),
  field("f_uint32", 11, Type.UINT32),
  field("f_enum", 12, Type.ENUM, { typeName: ".test.Color" }),
  field("f_sfixed32", 13, Type.SFIXED32),
  field("f_sfixed64", 14, Type.SFIXED64),
  field("f_sint32", 15, Type.SINT32),
  field("f_sint64", 16, Type.SINT64),
  field("f_int64_string", 17, Type.INT64, { options: { jstype: FieldOptions_JSType.JS_STRING } }),
  field("opt_int32", 18, Type.INT32, { proto3Optional: true, oneofIndex: 1 }),
  field("opt_string", 19, Type.STRING, { proto3Optional: true, oneofIndex: 2 }),
  field("child", 20, Type.MESSAGE, { typeName: ".test.Kitchen" }),
  repeated("r_int32", 21, Type.INT32),
  repeated("r_uint64", 22, Type.UINT64),
  repeated("r_double", 23, Type.DOUBLE),
  repeated("r_enum", 24, Type.ENUM, { typeName: ".test.Color" }),
  repeated("r_bool", 25, Type.BOOL),
  repeated("r_string", 26, Type.STRING),
  repeated("r_bytes", 27, Type.BYTES),
  repeated("r_child", 28, Type.MESSAGE, { typeName: ".test.Kitchen" }),
  repeated("r_sint64_unpacked", 29, Type.SINT64, { options: { packed: false } }),
  repeated("r_fixed32", 30, Type.FIXED32),
  ...maps.map((m) => m.field),
  field("o_string", 38, Type.STRING, { oneofIndex: 0 }),
  field("o_int64", 39, Type.INT64, { oneofIndex: 0 }),
  field("o_child", 40, Type.MESSAGE, { typeName: ".test.Kitchen", oneofIndex: 0 }),
  field("o_bytes", 41, Type.BYTES, { oneofIndex: 0 }),
  field("o_enum", 42, Type.ENUM, { typeName: ".test.Color", oneofIndex: 0 }),
  field("o_struct", 49, Type.MESSAGE, { typeName: ".google.protobuf.Struct", oneofIndex: 0 }),
  field("f_struct", 43, Type.MESSAGE, { typeName: ".google.protobuf.Struct" }),
  repeated("r_struct", 44, Type.MESSAGE, { typeName: ".google.protobuf.Struct" }),
  field("f_value", 46, Type.MESSAGE, { typeName: ".google.protobuf.Value" }),
  field("f_timestamp", 47, Type.MESSAGE, { typeName: ".google.protobuf.Timestamp" }),
  field("f_list_value", 48, Type.MESSAGE, { typeName: ".google.protobuf.ListValue" }),
  repeated("r_sint32_unpacked", 50, Type.SINT32, { options: { packed: false } }),
  field("f_far", 5000, Type.STRING),
  field("f_very_far", 300_000, Type.INT32),
];

const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "test/kitchen.proto",
    package: "test",
    syntax: "proto3",
    dependency: ["google/protobuf/struct.proto", "google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto"],
    enumType: [{ name: "Color", value: [{ name: "COLOR_UNSPECIFIED", number: 0 }, { name: "COLOR_RED", number: 1 }, { name: "COLOR_BLUE", number: 2 }] }],
    messageType: [
      {
        name: "Kitchen",
        field: kitchenFields as unknown as FieldDescriptorProtoJson[] as never,
        oneofDecl: [{ name: "choice" }, { name: "_opt_int32" }, { name: "_opt_string" }],
        nestedType: maps.map((m) => m.entry) as never,
      },
      {
        name: "WithWrapper",
        field: [
          field("name", 1, Type.MESSAGE, { typeName: ".google.protobuf.StringValue" }),
          field("blob", 2, Type.MESSAGE, { typeName: ".google.protobuf.BytesValue" }),
          field("o_blob", 3, Type.MESSAGE, { typeName: ".google.protobuf.BytesValue", oneofIndex: 0 }),
          repeated("r_blob", 4, Type.MESSAGE, { typeName: ".google.protobuf.BytesValue" }),
        ] as never,
        oneofDecl: [{ name: "choice" }],
      },
    ],
  }),
  (name) => ({ "google/protobuf/struct.proto": file_google_protobuf_struct, "google/protobuf/timestamp.proto": file_google_protobuf_timestamp, "google/protobuf/wrappers.proto": file_google_protobuf_wrappers })[name],
);

const proto2Registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "test/legacy.proto",
    package: "test",
    syntax: "proto2",
    messageType: [{ name: "Legacy", field: [{ name: "count", number: 1, type: Type.INT32, label: Label.OPTIONAL, defaultValue: "7" }, { name: "label", number: 2, type: Type.STRING, label: Label.OPTIONAL }] }],
  }),
  () => undefined,
);

function message(registry: { getMessage(name: string): DescMessage | undefined }, name: string): DescMessage {
  const desc = registry.getMessage(name);
  if (desc === undefined) throw new Error(`${name} missing`);
  return desc;
}

/** Every field kind the decoder handles itself. */
export const KitchenSchema: DescMessage = message(registry, "test.Kitchen");
/** Singular wrapper fields (unwrapped by fromBinary), and wrappers in a oneof and a list (not unwrapped): left to fromBinary. */
export const WithWrapperSchema: DescMessage = message(registry, "test.WithWrapper");
/** proto2 with a custom default (create() uses a prototype): left to fromBinary. */
export const LegacySchema: DescMessage = message(proto2Registry, "test.Legacy");
