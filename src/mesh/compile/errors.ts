/**
 * Errors and issues of the compiler (`mesh/compile`). Compiling never throws for a bad mesh: what
 * cannot be compiled (an ACM certificate, a route to an unknown virtual node) is reported as a
 * {@link CompileIssue} and left out, and the rest of the node's configuration is still produced.
 */
import { TrustmeshError } from '../../spiffe/index.js';

/** Stable codes of compile issues. */
export type CompileIssueCode =
  | 'TM_ERR_COMPILE_UNKNOWN_NODE' // the node id names no virtual node / gateway
  | 'TM_ERR_COMPILE_REFERENCE' // a backend, provider or route target cannot be resolved
  | 'TM_ERR_COMPILE_UNSUPPORTED' // a feature with no local equivalent (ACM, Cloud Map without resolver)
  | 'TM_ERR_COMPILE_CONFLICT' // two things claim the same port / name
  | 'TM_WARN_COMPILE_SEMANTICS'; // compiled, but something was dropped (e.g. an all-zero weighted route)

/** One thing the compiler could not turn into Envoy config, for one proxy node. */
export interface CompileIssue {
  severity: 'error' | 'warning';
  code: CompileIssueCode;
  nodeId: string;
  /** `Kind namespace/name` of the object at fault, when known. */
  object?: string;
  /** Field path in that object (`spec.routes[1].httpRoute.action.weightedTargets[0]`), when known. */
  path?: string;
  message: string;
}

/** Base class of thrown compile errors (programming errors and unknown node ids asked for explicitly). */
export class CompileError extends TrustmeshError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, `compile: ${message}`, options);
  }
}

/** A node id that is not `mesh/<mesh>/virtualNode|virtualGateway/<name>` or names nothing in the mesh. */
export class UnknownNodeError extends CompileError {
  readonly nodeId: string;

  constructor(nodeId: string, why: string) {
    super('TM_ERR_COMPILE_UNKNOWN_NODE', `node "${nodeId}": ${why}`);
    this.nodeId = nodeId;
  }
}
