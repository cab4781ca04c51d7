export type { AttestationResult, NodeAttestor } from './types.js';
export { JoinTokenAttestor, type JoinTokenAttestorOptions } from './join-token.js';
export { K8sSatAttestor, loadServiceAccountKeys, type K8sSatAttestorOptions } from './k8s-sat.js';
