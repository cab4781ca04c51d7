/**
 * SPIFFE Workload API: the shared proto loader (also used by the agent's server) and the client.
 * Reference spiffe.md §e.
 */
export * from './proto.js';
export * from './errors.js';
export * from './endpoint.js';
export * from './client.js';
export * from './x509source.js';
