/**
 * The gRPC server: Hubble's Observer and the health service on one port, plaintext or TLS (mutual TLS when a
 * client CA is configured). A request the protobuf decoder cannot read reaches the handler as a marked object and
 * is answered with InvalidArgument instead of grpc-js's generic Internal error.
 */
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { LookbackError } from '../common/errors.js';
import { loadHubbleGrpc } from '../schemas/proto-loader.js';
import { MALFORMED } from './observer.js';

export interface TlsFiles {
  cert: string;
  key: string;
  clientCa: string;
}

export interface GrpcServerOptions {
  listen: string;
  tls: TlsFiles | null;
  observer: grpc.UntypedServiceImplementation;
  health: grpc.UntypedServiceImplementation;
  maxReceiveBytes?: number;
}

export interface RunningGrpcServer {
  port: number;
  stop(): Promise<void>;
}

/** The same service with request decoders that mark bad input instead of throwing. */
function tolerant(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(def)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (err) {
          return { [MALFORMED]: `the ${name} request is not valid protobuf: ${(err as Error).message}` };
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

export function serverCredentials(tls: TlsFiles | null): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const read = (file: string, what: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new LookbackError('config', `access.${what}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const ca = tls.clientCa ? read(tls.clientCa, 'tlsClientCa') : null;
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: read(tls.cert, 'tlsCert'), private_key: read(tls.key, 'tlsKey') }], ca !== null);
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { observerService, healthService } = loadHubbleGrpc();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxReceiveBytes ?? 4 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
  });
  server.addService(tolerant(observerService), opts.observer);
  server.addService(tolerant(healthService), opts.health);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.listen, serverCredentials(opts.tls), (err, p) => (err ? reject(new LookbackError('unavailable', `gRPC cannot listen on ${opts.listen}: ${err.message}`)) : resolve(p)));
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), 3000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
