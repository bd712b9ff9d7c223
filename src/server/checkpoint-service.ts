/** databroker.CheckpointService: one stored (server_version, record_version) pair, default (0,0). */
import type { ServiceImpl } from "@connectrpc/connect";
import { CheckpointService } from "../../gen/databroker/databroker_pb.js";
import type { DatabrokerStorage } from "./storage/databroker-storage.js";

export function createCheckpointService(storage: DatabrokerStorage): ServiceImpl<typeof CheckpointService> {
  return {
    getCheckpoint() {
      // is_leader is only true under a clustered leader; this server is never clustered.
      return { checkpoint: storage.getCheckpoint(), isLeader: false };
    },
    setCheckpoint(req) {
      storage.setCheckpoint(req.checkpoint?.serverVersion ?? 0n, req.checkpoint?.recordVersion ?? 0n);
      return {};
    },
  };
}
