/**
 * Typed errors of the identity server. Every error carries a stable `code` (`TM_ERR_SERVER_…`), the
 * gRPC status it maps to at the API edge (`grpcStatus`), and where it helps the rejected input.
 * Messages start with the module ("server: …") and name the field and the rule.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { TrustmeshError } from '../../spiffe/index.js';

/** Base class: `code` is stable, `grpcStatus` is the gRPC status code used on the wire. */
export class ServerError extends TrustmeshError {
  readonly grpcStatus: GrpcStatus;

  constructor(code: string, grpcStatus: GrpcStatus, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.grpcStatus = grpcStatus;
  }
}

/** A config file or run flag is invalid (names the key). */
export class ConfigError extends ServerError {
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('TM_ERR_SERVER_CONFIG', GrpcStatus.INVALID_ARGUMENT, `server config: ${key}: ${message}`, options);
  }
}

/** Request input fails a rule (entry field, selector, CSR, flag). Maps to InvalidArgument. */
export class InvalidArgumentError extends ServerError {
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('TM_ERR_SERVER_INVALID_ARGUMENT', GrpcStatus.INVALID_ARGUMENT, `${field}: ${message}`, options);
  }
}

/** A similar object already exists (duplicate registration entry, own bundle). Maps to AlreadyExists. */
export class AlreadyExistsError extends ServerError {
  constructor(message: string) {
    super('TM_ERR_SERVER_ALREADY_EXISTS', GrpcStatus.ALREADY_EXISTS, message);
  }
}

/** The named object doesn't exist. Maps to NotFound. */
export class NotFoundError extends ServerError {
  constructor(message: string) {
    super('TM_ERR_SERVER_NOT_FOUND', GrpcStatus.NOT_FOUND, message);
  }
}

/** The caller may not do this (attestation refused, agent banned/evicted, entry not authorized). */
export class PermissionDeniedError extends ServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TM_ERR_SERVER_PERMISSION_DENIED', GrpcStatus.PERMISSION_DENIED, message, options);
  }
}

/** The caller presented no valid identity. Maps to Unauthenticated. */
export class UnauthenticatedError extends ServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TM_ERR_SERVER_UNAUTHENTICATED', GrpcStatus.UNAUTHENTICATED, message, options);
  }
}

/** Precondition not met (e.g. no active CA yet). Maps to FailedPrecondition. */
export class FailedPreconditionError extends ServerError {
  constructor(message: string) {
    super('TM_ERR_SERVER_FAILED_PRECONDITION', GrpcStatus.FAILED_PRECONDITION, message);
  }
}

/** The datastore failed (I/O, corruption, schema). Maps to Internal; detail stays in logs. */
export class DataStoreError extends ServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TM_ERR_SERVER_DATASTORE', GrpcStatus.INTERNAL, `datastore: ${message}`, options);
  }
}

/** Another server process holds the data directory. */
export class DataDirLockedError extends ServerError {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number | undefined,
  ) {
    super(
      'TM_ERR_SERVER_DATA_DIR_LOCKED',
      GrpcStatus.FAILED_PRECONDITION,
      `datastore: data_dir ${dataDir} is in use by another trustmesh server` +
        (holderPid ? ` (pid ${holderPid})` : '') +
        '; stop it or choose another -dataDir',
    );
  }
}

/**
 * The one place where errors become wire statuses: typed errors keep their status and message;
 * anything else becomes Internal with a generic message (detail must not leak to callers).
 */
export function toStatus(err: unknown): { code: GrpcStatus; message: string } {
  if (err instanceof ServerError && !(err instanceof DataStoreError)) {
    return { code: err.grpcStatus, message: err.message };
  }
  return { code: GrpcStatus.INTERNAL, message: 'internal error' };
}
