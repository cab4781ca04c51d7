/**
 * Typed errors of the local runtime. Every error has a stable `code`, names the input it
 * rejects and chains lower errors through `cause`. Messages are prefixed with "runtime: ".
 */
import { TrustmeshError } from '../spiffe/index.js';

/** Base class of every runtime error; messages start with "runtime: ", `code` is `TM_ERR_RUNTIME_…`. */
export class RuntimeError extends TrustmeshError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, `runtime: ${message}`, options);
  }
}

/** Network namespaces need CAP_NET_ADMIN: the runtime refuses to start without root. */
export class NotRootError extends RuntimeError {
  constructor() {
    super(
      'TM_ERR_RUNTIME_NOT_ROOT',
      'trustmesh up needs root (CAP_NET_ADMIN) to create network namespaces; run it as root, e.g. `sudo npx trustmesh up examples/color-app`',
    );
  }
}

/** A required host tool (ip, iptables, setpriv) is missing. */
export class MissingToolError extends RuntimeError {
  readonly tool: string;
  constructor(tool: string, pkg: string) {
    super(
      'TM_ERR_RUNTIME_MISSING_TOOL',
      `the command "${tool}" is missing; install it with \`apt-get install ${pkg}\``,
    );
    this.tool = tool;
  }
}

/** A manifest document is malformed or of an unsupported kind. */
export class ManifestError extends RuntimeError {
  readonly source: string;
  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super('TM_ERR_RUNTIME_MANIFEST', `${source}: ${message}`, options);
    this.source = source;
  }
}

/** A container's image has no entry in images.yaml and no command of its own. */
export class ImageNotFoundError extends RuntimeError {
  readonly image: string;
  constructor(image: string, container: string) {
    super(
      'TM_ERR_RUNTIME_IMAGE_NOT_FOUND',
      `container "${container}": image "${image}" is not in images.yaml and the container has no command`,
    );
    this.image = image;
  }
}

/** The sidecar injector rejects a pod (App Mesh webhook rules, reference §c.4). */
export class InjectionError extends RuntimeError {
  readonly pod: string;
  constructor(pod: string, message: string) {
    super('TM_ERR_RUNTIME_INJECTION', `pod ${pod}: ${message}`);
    this.pod = pod;
  }
}

/** A host command (ip, iptables-restore, …) exited non-zero. */
export class CommandFailedError extends RuntimeError {
  readonly argv: readonly string[];
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number | null, stderr: string) {
    super(
      'TM_ERR_RUNTIME_COMMAND_FAILED',
      `\`${argv.join(' ')}\` exited with ${exitCode}: ${stderr.trim().split('\n').slice(-3).join(' / ')}`,
    );
    this.argv = argv;
    this.stderr = stderr;
  }
}

/** The address pool of pods or services is exhausted. */
export class AddressExhaustedError extends RuntimeError {
  constructor(range: string) {
    super('TM_ERR_RUNTIME_ADDRESS_EXHAUSTED', `no free address left in ${range}`);
  }
}

/** No runtime is running for the state directory (the control socket is absent or refuses). */
export class NotRunningError extends RuntimeError {
  readonly stateDir: string;
  constructor(stateDir: string, options?: { cause?: unknown }) {
    super(
      'TM_ERR_RUNTIME_NOT_RUNNING',
      `no trustmesh runtime is running with state dir ${stateDir}; start one with \`trustmesh up <dir>\``,
      options,
    );
    this.stateDir = stateDir;
  }
}

/** A named object (pod, container, service) does not exist. */
export class NotFoundError extends RuntimeError {
  constructor(kind: string, name: string) {
    super('TM_ERR_RUNTIME_NOT_FOUND', `${kind} "${name}" not found`);
  }
}
