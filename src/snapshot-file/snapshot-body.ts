/**
 * The plaintext inside the chunks (FORMAT.md): a sequence of entries. Per mirrored stream a
 * section (its type, server version, record version and options), its records, and the
 * section's end with its record count; then the end of the file with the section count. Type
 * and type URL strings are written once and referred to by number (a string table), so a
 * record costs its id, version, modified_at and data plus a few bytes.
 *
 * The decoder is incremental: feed it the chunks' plaintext in order; it hands out every
 * complete entry and keeps the bytes of an entry cut by a chunk boundary for the next feed.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { OptionsSchema, type Options } from "../../gen/databroker/databroker_pb.js";
import type { RawRecord } from "../replica/replica-events.js";
import { ByteReader, ByteWriter, INCOMPLETE, MalformedContentError } from "./byte-codec.js";

const SECTION = 1;
const RECORD = 2;
const STRING = 3;
const SECTION_END = 4;
const END = 5;

/** One mirrored stream's saved position and options. */
export interface SnapshotSection {
  /** The stream's type ("" = every type). */
  readonly type: string;
  readonly serverVersion: bigint;
  /** The position Sync resumes from: every change at or below it is reflected in the records. */
  readonly recordVersion: bigint;
  /** Options per type URL, as the replica held them. */
  readonly options: ReadonlyMap<string, Options>;
}

/** One record to save (the replica's view of it). */
export interface SnapshotRecord {
  readonly type: string;
  readonly id: string;
  readonly version: bigint;
  readonly modifiedAt: Timestamp | undefined;
  readonly typeUrl: string;
  readonly data: Uint8Array;
}

export class BodyEncoder {
  readonly #strings = new Map<string, number>();
  #sections = 0;
  #records = 0;

  constructor(readonly out: ByteWriter) {}

  #ref(value: string): number {
    let ref = this.#strings.get(value);
    if (ref === undefined) {
      ref = this.#strings.size;
      this.#strings.set(value, ref);
      this.out.byte(STRING);
      this.out.string(value);
    }
    return ref;
  }

  section(section: SnapshotSection): void {
    const out = this.out;
    out.byte(SECTION);
    out.string(section.type);
    out.bigVarint(section.serverVersion);
    out.bigVarint(section.recordVersion);
    out.varint(section.options.size);
    for (const [typeUrl, options] of section.options) {
      out.string(typeUrl);
      out.bytes(toBinary(OptionsSchema, options));
    }
    this.#sections++;
    this.#records = 0;
  }

  record(record: SnapshotRecord): void {
    const type = this.#ref(record.type);
    const typeUrl = this.#ref(record.typeUrl);
    const out = this.out;
    out.byte(RECORD);
    out.varint(type);
    out.string(record.id);
    out.bigVarint(record.version);
    const at = record.modifiedAt;
    // Seconds zigzag-encoded (a timestamp before 1970 is legal); nanos + 1, 0 = no modified_at.
    const seconds = at === undefined ? 0 : Number(at.seconds);
    out.varint(seconds >= 0 ? seconds * 2 : -seconds * 2 - 1);
    out.varint(at === undefined ? 0 : at.nanos + 1);
    out.varint(typeUrl);
    out.bytes(record.data);
    this.#records++;
  }

  endSection(): void {
    this.out.byte(SECTION_END);
    this.out.varint(this.#records);
  }

  end(): void {
    this.out.byte(END);
    this.out.varint(this.#sections);
  }
}

/** What the decoder hands out, in file order. */
export type BodyEntry =
  | { readonly kind: "section"; readonly section: SnapshotSection }
  /** `data` is a view into the decoder's buffer: valid until the next feed (the replica copies it). */
  | { readonly kind: "records"; readonly records: readonly RawRecord[] }
  | { readonly kind: "sectionEnd" }
  | { readonly kind: "end" };

export class BodyDecoder {
  readonly #strings: string[] = [];
  #pending: Uint8Array = new Uint8Array(0);
  #inSection = false;
  #sectionRecords = 0;
  #sections = 0;
  #ended = false;

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The complete entries in what was fed so far (records of one section grouped).
   * @throws MalformedContentError for content that is not ours (only possible with a key that
   *   authenticated it, i.e. a bug or a forged file written with the right key)
   */
  feed(plaintext: Uint8Array): BodyEntry[] {
    let buffer = plaintext;
    if (this.#pending.length > 0) {
      buffer = new Uint8Array(this.#pending.length + plaintext.length);
      buffer.set(this.#pending);
      buffer.set(plaintext, this.#pending.length);
    }
    const r = new ByteReader(buffer);
    const entries: BodyEntry[] = [];
    let records: RawRecord[] = [];
    const flush = (): void => {
      if (records.length > 0) entries.push({ kind: "records", records });
      records = [];
    };
    for (;;) {
      const start = r.offset;
      if (r.remaining === 0) break;
      if (this.#ended) throw new MalformedContentError("content after the end of the snapshot");
      try {
        const tag = r.byte();
        switch (tag) {
          case STRING:
            this.#strings.push(r.string());
            break;
          case SECTION: {
            if (this.#inSection) throw new MalformedContentError("a section inside a section");
            const type = r.string();
            const serverVersion = r.bigVarint();
            const recordVersion = r.bigVarint();
            const options = new Map<string, Options>();
            for (let n = r.varint(); n > 0; n--) {
              const typeUrl = r.string();
              options.set(typeUrl, decodeOptions(r.bytes()));
            }
            flush();
            entries.push({ kind: "section", section: { type, serverVersion, recordVersion, options } });
            this.#inSection = true;
            this.#sectionRecords = 0;
            break;
          }
          case RECORD: {
            if (!this.#inSection) throw new MalformedContentError("a record outside a section");
            const type = this.#string(r.varint());
            const id = r.string();
            const version = r.bigVarint();
            const zigzag = r.varint();
            const nanos = r.varint();
            const typeUrl = this.#string(r.varint());
            const data = r.bytes();
            const modifiedAt = nanos === 0 ? undefined : timestamp(zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2, nanos - 1);
            records.push({ type, id, version, modifiedAt, typeUrl, data });
            this.#sectionRecords++;
            break;
          }
          case SECTION_END: {
            const count = r.varint();
            if (!this.#inSection || count !== this.#sectionRecords) throw new MalformedContentError("section record count does not match");
            flush();
            entries.push({ kind: "sectionEnd" });
            this.#inSection = false;
            this.#sections++;
            break;
          }
          case END: {
            const count = r.varint();
            if (this.#inSection || count !== this.#sections) throw new MalformedContentError("section count does not match");
            flush();
            entries.push({ kind: "end" });
            this.#ended = true;
            break;
          }
          default:
            throw new MalformedContentError(`unknown entry ${tag}`);
        }
      } catch (error) {
        if (error !== INCOMPLETE) throw error;
        // The entry continues in the next chunk (an entry changes nothing until it is whole): keep its bytes.
        r.offset = start;
        break;
      }
    }
    flush();
    // Records refer to `buffer`; the leftover is copied so the next feed does not alias it.
    this.#pending = r.offset === buffer.length ? new Uint8Array(0) : buffer.slice(r.offset);
    return entries;
  }

  /** True when nothing is left over (the plaintext ended on an entry boundary). */
  get settled(): boolean {
    return this.#pending.length === 0;
  }

  #string(ref: number): string {
    const s = this.#strings[ref];
    if (s === undefined) throw new MalformedContentError("unknown string reference");
    return s;
  }
}

function decodeOptions(bytes: Uint8Array): Options {
  try {
    return fromBinary(OptionsSchema, bytes);
  } catch {
    throw new MalformedContentError("options do not parse");
  }
}

function timestamp(seconds: number, nanos: number): Timestamp {
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos });
}
