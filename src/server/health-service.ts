/**
 * grpc.health.v1.Health/Check answering SERVING for any service name, without a JWT, as
 * Pomerium's basic health server does (Watch and List stay unimplemented there too). The
 * descriptor is built in code so no .proto file is needed for this one tiny service.
 */
import { create, createFileRegistry, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";

const HEALTH_FILE = create(FileDescriptorProtoSchema, {
  name: "grpc/health/v1/health.proto",
  package: "grpc.health.v1",
  syntax: "proto3",
  messageType: [
    {
      name: "HealthCheckRequest",
      field: [{ name: "service", number: 1, type: FieldDescriptorProto_Type.STRING, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: "service" }],
    },
    {
      name: "HealthCheckResponse",
      field: [
        {
          name: "status",
          number: 1,
          type: FieldDescriptorProto_Type.ENUM,
          label: FieldDescriptorProto_Label.OPTIONAL,
          typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus",
          jsonName: "status",
        },
      ],
      enumType: [
        {
          name: "ServingStatus",
          value: [
            { name: "UNKNOWN", number: 0 },
            { name: "SERVING", number: 1 },
            { name: "NOT_SERVING", number: 2 },
            { name: "SERVICE_UNKNOWN", number: 3 },
          ],
        },
      ],
    },
  ],
  service: [
    {
      name: "Health",
      method: [{ name: "Check", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse" }],
    },
  ],
});

const registry = createFileRegistry(HEALTH_FILE, () => undefined);

/** The grpc.health.v1.Health service descriptor (Check only). */
export const HealthService = registry.getService("grpc.health.v1.Health") as DescService;
const checkMethod = HealthService.methods[0] as DescMethod & { methodKind: "unary" };
const responseSchema = registry.getMessage("grpc.health.v1.HealthCheckResponse") as DescMessage;

/** HealthCheckResponse.ServingStatus.SERVING */
export const SERVING = 1;

export function registerHealthService(router: ConnectRouter): void {
  router.rpc(checkMethod, () => create(responseSchema, { status: SERVING }) as never);
}
