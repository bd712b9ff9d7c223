/**
 * Options Pomerium installs whenever it creates a backend (setupRequiredIndex, spec 7). Applied
 * once at start; Clear wipes them and they are not re-applied.
 */
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { OptionsSchema, type Options } from "../../../gen/databroker/databroker_pb.js";

const FIFTEEN_MINUTES = create(DurationSchema, { seconds: 900n, nanos: 0 });

export function defaultOptions(): Array<[string, Options]> {
  return [
    [
      "type.googleapis.com/session.SessionBindingRequest",
      create(OptionsSchema, { capacity: 50000n, indexableFields: ["key"], ttl: FIFTEEN_MINUTES }),
    ],
    ["type.googleapis.com/session.SessionBinding", create(OptionsSchema, { indexableFields: ["session_id", "user_id"] })],
    ["type.googleapis.com/session.IdentityBinding", create(OptionsSchema, { indexableFields: ["user_id"] })],
    ["type.googleapis.com/oauth21.UpstreamMCPToken", create(OptionsSchema, { indexableFields: ["user_id", "route_id"] })],
    ["type.googleapis.com/oauth21.PendingUpstreamAuth", create(OptionsSchema, { indexableFields: ["state_id"], ttl: FIFTEEN_MINUTES })],
  ];
}
