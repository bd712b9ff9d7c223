/**
 * A deterministic generator of realistic Pomerium records: users, and sessions of about 1.8 KB
 * encoded (raw ID token ~900 B, access token ~300 B, refresh token ~100 B, 5-8 claims,
 * audiences), as an identity-aware proxy holds them. Used by the CLI demo, the benchmarks and
 * tests; the same seed always gives the same bytes.
 */
import { anyPack, ListValueSchema, timestampFromMs, type ListValue, type Timestamp } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { RecordSchema, type Record } from "../../gen/databroker/databroker_pb.js";
import { SessionSchema, type Session } from "../../gen/session/session_pb.js";
import { UserSchema, type User } from "../../gen/user/user_pb.js";

export const SESSION_TYPE_URL = "type.googleapis.com/session.Session";
export const USER_TYPE_URL = "type.googleapis.com/user.User";

/** A small, fast, seedable PRNG (mulberry32): reproducible across runs and machines. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const FIRST = ["ada", "grace", "alan", "barbara", "ken", "radia", "linus", "margaret", "dennis", "frances", "edsger", "katherine"];
const LAST = ["lovelace", "hopper", "turing", "liskov", "thompson", "perlman", "torvalds", "hamilton", "ritchie", "allen", "dijkstra", "johnson"];
const GROUPS = ["engineering", "sre", "security", "finance", "support", "sales", "design", "admins", "oncall", "contractors"];
const DOMAINS = ["example.com", "corp.example.org", "example.net"];

function stringList(values: readonly string[]): ListValue {
  return create(ListValueSchema, { values: values.map((value) => ({ kind: { case: "stringValue" as const, value } })) });
}

export interface DemoRecordsOptions {
  /** PRNG seed; the same seed gives the same records. */
  seed?: number;
  /** Time the records are "now" at, in ms since the epoch (affects timestamps only). */
  nowMs?: number;
}

/** Produces users and sessions; sessions reference users by id (`user-<n>`). */
export class DemoRecords {
  private readonly random: () => number;
  private readonly nowMs: number;

  constructor(options: DemoRecordsOptions = {}) {
    this.random = seededRandom(options.seed ?? 1);
    this.nowMs = options.nowMs ?? Date.now();
  }

  private token(length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += URL_SAFE[Math.floor(this.random() * 64)];
    return out;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  private at(offsetMs: number): Timestamp {
    return timestampFromMs(this.nowMs + offsetMs);
  }

  /** The user with index n: id `user-<n>`, a name, an email and a few claims. */
  user(n: number): User {
    const first = FIRST[n % FIRST.length] as string;
    const last = LAST[Math.floor(n / FIRST.length) % LAST.length] as string;
    const domain = DOMAINS[n % DOMAINS.length] as string;
    const email = `${first}.${last}.${n}@${domain}`;
    return create(UserSchema, {
      id: `user-${n}`,
      name: `${first} ${last}`,
      email,
      claims: {
        email: stringList([email]),
        groups: stringList([this.pick(GROUPS), this.pick(GROUPS)]),
      },
    });
  }

  /**
   * A session of user `userIndex`. `ttlMs` sets expires_at relative to now (negative: already
   * expired); the OAuth token expires sooner but carries a refresh token, so it stays valid.
   */
  session(id: string, userIndex: number, ttlMs = 14 * 3600_000): Session {
    const userId = `user-${userIndex}`;
    const domain = DOMAINS[userIndex % DOMAINS.length] as string;
    const issuer = `https://idp.${domain}/`;
    const claimCount = 5 + Math.floor(this.random() * 4);
    const claims: { [name: string]: ListValue } = {};
    const claimNames = ["email", "groups", "name", "preferred_username", "department", "locale", "amr", "tenant"];
    for (let i = 0; i < claimCount; i++) {
      const name = claimNames[i] as string;
      const values = name === "groups" ? [this.pick(GROUPS), this.pick(GROUPS), this.pick(GROUPS)] : [`${name}-${this.token(12)}`];
      claims[name] = stringList(values);
    }
    return create(SessionSchema, {
      version: "1",
      id,
      userId,
      idpId: `idp-${userIndex % 3}`,
      issuedAt: this.at(-60_000),
      accessedAt: this.at(-1_000),
      expiresAt: this.at(ttlMs),
      audience: [`app-${userIndex % 7}.${domain}`, `api.${domain}`],
      idToken: {
        issuer,
        subject: userId,
        issuedAt: this.at(-60_000),
        expiresAt: this.at(3600_000),
        raw: `eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.${this.token(640)}.${this.token(256)}`,
      },
      oauthToken: {
        accessToken: this.token(300),
        tokenType: "Bearer",
        expiresAt: this.at(3600_000),
        refreshToken: this.token(100),
      },
      claims,
    });
  }

  /** Wraps a message in a databroker Record with the right type URL (version left to the server). */
  static record(message: Session | User): Record {
    const schema = message.$typeName === "session.Session" ? SessionSchema : UserSchema;
    return create(RecordSchema, {
      type: `type.googleapis.com/${message.$typeName}`,
      id: message.id,
      data: anyPack(schema as never, message as never),
    });
  }
}
