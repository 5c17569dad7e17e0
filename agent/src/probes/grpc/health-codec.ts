import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** grpc.health.v1 ServingStatus values by number. */
export const SERVING_STATUS = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] as const;

/** Encodes grpc.health.v1.HealthCheckRequest { string service = 1; } (two fields are not worth a .proto). */
export function encodeHealthRequest(service: string): Buffer {
  const w = new BinaryWriter();
  if (service !== "") w.tag(1, WireType.LengthDelimited).string(service);
  return Buffer.from(w.finish());
}

/** Decodes grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; } to the status name. */
export function decodeHealthResponse(buf: Buffer): string {
  const r = new BinaryReader(buf);
  let status = 0;
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === WireType.Varint) status = r.int32();
    else r.skip(type, field);
  }
  return SERVING_STATUS[status] ?? `STATUS_${status}`;
}
