/**
 * Typed errors of the xDS layer (`mesh/xds`): resource encoding and the ADS server.
 * Every error carries a stable `code` (`TM_ERR_XDS_…`); `instanceof` works across copies of the module.
 */
import { TrustmeshError } from '../../spiffe/index.js';

/** Base class of every `mesh/xds` error; messages start with "xds: ". */
export class XdsError extends TrustmeshError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, `xds: ${message}`, options);
  }
}

/**
 * A resource object does not fit its Envoy proto (unknown field, wrong scalar type, bad enum name, bad
 * Duration string, unresolvable `@type`). `path` is the field path inside the resource.
 */
export class ResourceEncodingError extends XdsError {
  /** Field path inside the resource, e.g. `filter_chains[0].filters[0].typed_config.route_config`. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('TM_ERR_XDS_RESOURCE_ENCODING', `${path || '<root>'}: ${message}`, options);
    this.path = path;
  }
}

/** A type URL that the snapshot cache or codec does not know. */
export class UnknownTypeUrlError extends XdsError {
  readonly typeUrl: string;

  constructor(typeUrl: string) {
    super('TM_ERR_XDS_UNKNOWN_TYPE_URL', `unknown resource type URL "${typeUrl}"`);
    this.typeUrl = typeUrl;
  }
}

/** A call on a closed server. */
export class XdsServerClosedError extends XdsError {
  constructor() {
    super('TM_ERR_XDS_SERVER_CLOSED', 'the xDS server is closed');
  }
}

/** A listen address that is neither `host:port` nor `unix:///path`. */
export class InvalidListenAddressError extends XdsError {
  readonly address: string;

  constructor(address: string) {
    super(
      'TM_ERR_XDS_INVALID_LISTEN_ADDRESS',
      `listen address "${address}" must be host:port, [v6]:port or unix:///absolute/path`,
    );
    this.address = address;
  }
}
