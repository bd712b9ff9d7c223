/** Test helper: a real Connect gRPC client over h2c that signs a fresh JWT per call, like Pomerium's clients. */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CheckpointService, DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { JWT_METADATA_KEY, parseSharedSecret, signDatabrokerJwt } from "../../src/transport/shared-secret.js";

export interface TestClients {
  readonly databroker: Client<typeof DataBrokerService>;
  readonly checkpoint: Client<typeof CheckpointService>;
}

/** `token` overrides the signed JWT: a string to send as is, null to send none. */
export function databrokerClients(url: string, sharedSecret: string, token?: () => string | null | Promise<string | null>): TestClients {
  const key = parseSharedSecret(sharedSecret);
  const auth: Interceptor = (next) => async (req) => {
    const jwt = token === undefined ? await signDatabrokerJwt(key) : await token();
    if (jwt !== null) req.header.set(JWT_METADATA_KEY, jwt);
    return next(req);
  };
  const transport = createGrpcTransport({ baseUrl: url, interceptors: [auth], acceptCompression: [] });
  return { databroker: createClient(DataBrokerService, transport), checkpoint: createClient(CheckpointService, transport) };
}
