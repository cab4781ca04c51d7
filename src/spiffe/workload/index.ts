/**
 * SPIFFE Workload API: the shared proto loaders (also used by the agent's server and the identity
 * API) and the client.
 * Reference spiffe.md §e.
 */
export * from './proto.js';
export * from './service-loader.js';
export * from './errors.js';
export * from './endpoint.js';
export * from './client.js';
export * from './x509source.js';
