import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  makeGenericClientConstructor,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ClientWritableStream,
  type handleBidiStreamingCall,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type MethodDefinition,
  type requestCallback,
} from "@grpc/grpc-js";

/** The request message of a method descriptor. */
export type GrpcRequest<M extends DescMethod> = MessageShape<M["input"]>;
/** The response message of a method descriptor. */
export type GrpcResponse<M extends DescMethod> = MessageShape<M["output"]>;

/** The grpc-js server handler of one method, by its kind (unary, server/client/bidi streaming). */
export type GrpcHandler<M extends DescMethod> = M["methodKind"] extends "unary"
  ? handleUnaryCall<GrpcRequest<M>, GrpcResponse<M>>
  : M["methodKind"] extends "server_streaming"
    ? handleServerStreamingCall<GrpcRequest<M>, GrpcResponse<M>>
    : M["methodKind"] extends "client_streaming"
      ? handleClientStreamingCall<GrpcRequest<M>, GrpcResponse<M>>
      : handleBidiStreamingCall<GrpcRequest<M>, GrpcResponse<M>>;

/** A grpc-js service implementation typed from a protobuf-es service descriptor: one handler per method `localName`. */
export type GrpcServiceImplementation<S extends DescService> = {
  [K in keyof S["method"]]: GrpcHandler<S["method"][K]>;
};

/** The grpc-js service definition of a protobuf-es service descriptor, keyed like its implementation. */
export type GrpcServiceDefinition<S extends DescService> = {
  readonly [K in keyof S["method"]]: MethodDefinition<GrpcRequest<S["method"][K]>, GrpcResponse<S["method"][K]>>;
};

/** A grpc-js unary call: with or without metadata and call options. */
export interface GrpcUnaryClientCall<I, O> {
  (request: I, metadata: Metadata, options: Partial<CallOptions>, callback: requestCallback<O>): ClientUnaryCall;
  (request: I, metadata: Metadata, callback: requestCallback<O>): ClientUnaryCall;
  (request: I, callback: requestCallback<O>): ClientUnaryCall;
}

/** The grpc-js client call of one method, by its kind. */
export type GrpcClientMethod<M extends DescMethod> = M["methodKind"] extends "unary"
  ? GrpcUnaryClientCall<GrpcRequest<M>, GrpcResponse<M>>
  : M["methodKind"] extends "server_streaming"
    ? (
        request: GrpcRequest<M>,
        metadata?: Metadata,
        options?: Partial<CallOptions>,
      ) => ClientReadableStream<GrpcResponse<M>>
    : M["methodKind"] extends "client_streaming"
      ? (
          metadata: Metadata,
          options: Partial<CallOptions>,
          callback: requestCallback<GrpcResponse<M>>,
        ) => ClientWritableStream<GrpcRequest<M>>
      : (metadata?: Metadata, options?: Partial<CallOptions>) => ClientDuplexStream<GrpcRequest<M>, GrpcResponse<M>>;

/** A grpc-js client typed from a protobuf-es service descriptor: one call per method `localName`, plus the channel's `close()` and friends. */
export type GrpcClient<S extends DescService> = {
  [K in keyof S["method"]]: GrpcClientMethod<S["method"][K]>;
} & Pick<Client, "close" | "getChannel" | "waitForReady">;

/**
 * Derives a grpc-js service definition from a protobuf-es service descriptor, so that
 * every method's path and (de)serializers come from the generated code, never by hand.
 * Keys are the methods' `localName` (lowerCamelCase), as grpc-js clients expose them.
 */
export function grpcServiceDefinition<S extends DescService>(service: S): GrpcServiceDefinition<S> {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    };
  }
  // Built from the same descriptor the type maps over: one entry per method localName.
  return definition as GrpcServiceDefinition<S>;
}

/** Creates a grpc-js client of `service` at `address`, typed from its descriptor. */
export function createGrpcClient<S extends DescService>(
  service: S,
  address: string,
  credentials: ChannelCredentials,
  options?: ChannelOptions,
): GrpcClient<S> {
  const Ctor = makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
  // grpc-js generates the methods at run time from the definition; the type above names them.
  return new Ctor(address, credentials, options) as unknown as GrpcClient<S>;
}

function serializer<D extends DescMessage>(desc: D): (message: unknown) => Buffer {
  return (message) => Buffer.from(toBinary(desc, message as MessageShape<D>));
}

function deserializer<D extends DescMessage>(desc: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(desc, bytes);
}
