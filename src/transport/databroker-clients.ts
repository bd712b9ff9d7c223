/** Typed Connect clients for the two services a databroker serves. */
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { CheckpointService, DataBrokerService } from "../../gen/databroker/databroker_pb.js";

export type DataBrokerClient = Client<typeof DataBrokerService>;
export type CheckpointClient = Client<typeof CheckpointService>;

export function createDataBrokerClient(transport: Transport): DataBrokerClient {
  return createClient(DataBrokerService, transport);
}

export function createCheckpointClient(transport: Transport): CheckpointClient {
  return createClient(CheckpointService, transport);
}
