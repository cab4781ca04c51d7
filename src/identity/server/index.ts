/**
 * The identity server (SPIRE server equivalent): CA, registration entries, node attestation,
 * datastore, agent API and admin API. Start it with {@link IdentityServer.start}; talk to a running
 * one with {@link adminCall}.
 */
export { IdentityServer, type IdentityServerOptions } from './server.js';
export {
  IdentityService,
  SYNC_PAGE_SIZE_DEFAULT,
  SYNC_PAGE_SIZE_MAX,
  type AgentInfo,
  type BatchResult,
  type EntryFilter,
} from './service.js';
export {
  DEFAULT_SOCKET_PATH,
  parseDurationSeconds,
  readConfigFile,
  resolveServerConfig,
  type RunFlags,
  type ServerConfig,
} from './config/index.js';
export { adminCall, AdminCallError } from './api/admin-client.js';
export { ADMIN_METHODS } from './api/admin.js';
export { caRotationStep, CaManager } from './ca/manager.js';
export { MemoryKeyManager, DiskKeyManager, type KeyManager } from './ca/keymanager.js';
export { openSqliteDataStore } from './datastore/sqlite.js';
export { JoinTokenAttestor, type JoinTokenAttestorOptions } from './attestation/index.js';
export type * from './datastore/types.js';
export {
  EntryIndex,
  parseSelector,
  serverSpiffeId,
  validateEntryInput,
  entryToMessage,
  type EntryInput,
} from './entries.js';
export * from './errors.js';
