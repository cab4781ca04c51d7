/**
 * TLS objects of App Mesh v1beta2 (API reference §a.3): listener TLS (mode, certificate, validation),
 * client policy TLS (enforce, ports, certificate, validation), subject alternative names, and their
 * VirtualGateway variants. "Exactly one of" members (certificate acm|file|sds, trust acm|file|sds) are
 * optional in the schema and enforced by admission, as the CRD and webhook split them.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { BoundedString, PortNumber, StringEnum, StructObject } from './common.js';

/** `SubjectAlternativeNames{match{exact[]}}`: only exact matching exists; SANs are FQDNs or URIs (SPIFFE IDs). */
export const SubjectAlternativeNames = StructObject({
  match: StructObject({ exact: Type.Optional(Type.Array(Type.String({ minLength: 1 }))) }),
});
/** A {@link SubjectAlternativeNames} value. */
export type SubjectAlternativeNames = Static<typeof SubjectAlternativeNames>;

/** `ListenerTLSMode`: STRICT (TLS only), PERMISSIVE (TLS or plaintext), DISABLED (plaintext only). */
export const ListenerTLSMode = StringEnum(['STRICT', 'PERMISSIVE', 'DISABLED'] as const);
/** A {@link ListenerTLSMode} value. */
export type ListenerTLSMode = Static<typeof ListenerTLSMode>;

/** `{certificateARN}` ACM certificate of a listener. */
export const ListenerTLSACMCertificate = StructObject({ certificateARN: Type.String({ minLength: 1 }) });
/** `{certificateChain 1–255, privateKey 1–255}`: PEM files on the proxy's file system (not hot-reloaded). */
export const ListenerTLSFileCertificate = StructObject({
  certificateChain: BoundedString(1, 255),
  privateKey: BoundedString(1, 255),
});
/** A {@link ListenerTLSFileCertificate} value. */
export type ListenerTLSFileCertificate = Static<typeof ListenerTLSFileCertificate>;
/** `{secretName}`: SDS resource name of a TlsCertificate (SPIRE: the workload's SPIFFE ID), used verbatim. */
export const ListenerTLSSDSCertificate = StructObject({ secretName: Type.String({ minLength: 1 }) });
/** A {@link ListenerTLSSDSCertificate} value. */
export type ListenerTLSSDSCertificate = Static<typeof ListenerTLSSDSCertificate>;

/** `ListenerTLSCertificate`: exactly one of `acm`, `file`, `sds`. */
export const ListenerTLSCertificate = StructObject({
  acm: Type.Optional(ListenerTLSACMCertificate),
  file: Type.Optional(ListenerTLSFileCertificate),
  sds: Type.Optional(ListenerTLSSDSCertificate),
});
/** A {@link ListenerTLSCertificate} value. */
export type ListenerTLSCertificate = Static<typeof ListenerTLSCertificate>;

/** `{certificateChain 1–255}`: trust bundle file. */
export const TLSValidationContextFileTrust = StructObject({ certificateChain: BoundedString(1, 255) });
/** A {@link TLSValidationContextFileTrust} value. */
export type TLSValidationContextFileTrust = Static<typeof TLSValidationContextFileTrust>;
/** `{secretName}`: SDS name of a CertificateValidationContext (SPIRE: `spiffe://<trust-domain>`, `ROOTCA`, `ALL`). */
export const TLSValidationContextSDSTrust = StructObject({ secretName: Type.String({ minLength: 1 }) });
/** A {@link TLSValidationContextSDSTrust} value. */
export type TLSValidationContextSDSTrust = Static<typeof TLSValidationContextSDSTrust>;
/** `{certificateAuthorityARNs[1..3]}`: ACM Private CA trust (client policies only). */
export const TLSValidationContextACMTrust = StructObject({
  certificateAuthorityARNs: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 3 }),
});
/** A {@link TLSValidationContextACMTrust} value. */
export type TLSValidationContextACMTrust = Static<typeof TLSValidationContextACMTrust>;

/** Listener validation trust: exactly one of `file`, `sds` (no ACM for listener validation). */
export const ListenerTLSValidationContextTrust = StructObject({
  file: Type.Optional(TLSValidationContextFileTrust),
  sds: Type.Optional(TLSValidationContextSDSTrust),
});
/** A {@link ListenerTLSValidationContextTrust} value. */
export type ListenerTLSValidationContextTrust = Static<typeof ListenerTLSValidationContextTrust>;

/** `validation{trust, subjectAlternativeNames?}` over one of the trust shapes (they differ in ACM only). */
function validationContext<Trust extends TSchema>(trust: Trust) {
  return StructObject({ trust, subjectAlternativeNames: Type.Optional(SubjectAlternativeNames) });
}

/** `{mode, certificate(acm|file|sds), validation?}` of a virtual node or virtual gateway listener. */
function listenerTls<Validation extends TSchema>(validation: Validation) {
  return StructObject({
    mode: ListenerTLSMode,
    certificate: ListenerTLSCertificate,
    validation: Type.Optional(validation),
  });
}

/** Listener `validation{trust, subjectAlternativeNames?}`: its presence makes the listener require client certificates. */
export const ListenerTLSValidationContext = validationContext(ListenerTLSValidationContextTrust);
/** A {@link ListenerTLSValidationContext} value. */
export type ListenerTLSValidationContext = Static<typeof ListenerTLSValidationContext>;

/** `ListenerTLS{mode, certificate, validation?}` of a virtual node listener (§a.3). */
export const ListenerTLS = listenerTls(ListenerTLSValidationContext);
/** A {@link ListenerTLS} value. */
export type ListenerTLS = Static<typeof ListenerTLS>;

/** Client policy validation trust: exactly one of `acm`, `file`, `sds`. */
export const TLSValidationContextTrust = StructObject({
  acm: Type.Optional(TLSValidationContextACMTrust),
  file: Type.Optional(TLSValidationContextFileTrust),
  sds: Type.Optional(TLSValidationContextSDSTrust),
});
/** A {@link TLSValidationContextTrust} value. */
export type TLSValidationContextTrust = Static<typeof TLSValidationContextTrust>;

/** Client policy `validation{trust, subjectAlternativeNames?}`; with SPIRE, the SAN list must name the server's SPIFFE IDs. */
export const TLSValidationContext = validationContext(TLSValidationContextTrust);
/** A {@link TLSValidationContext} value. */
export type TLSValidationContext = Static<typeof TLSValidationContext>;

/** Client certificate of a client policy: exactly one of `file`, `sds` (no ACM); sent only if the server asks. */
export const ClientTLSCertificate = StructObject({
  file: Type.Optional(ListenerTLSFileCertificate),
  sds: Type.Optional(ListenerTLSSDSCertificate),
});
/** A {@link ClientTLSCertificate} value. */
export type ClientTLSCertificate = Static<typeof ClientTLSCertificate>;

/**
 * `ClientPolicyTLS{enforce?, ports?, certificate?, validation}` (§a.3). `enforce` defaults to `true`
 * (API default, filled in by parsing); empty/absent `ports` = all ports. There is no `mode` field:
 * a `mode:` here (old walkthroughs) is pruned with a warning.
 */
export const ClientPolicyTLS = StructObject({
  enforce: Type.Optional(Type.Boolean({ default: true })),
  ports: Type.Optional(Type.Array(PortNumber)),
  certificate: Type.Optional(ClientTLSCertificate),
  validation: TLSValidationContext,
});
/** A {@link ClientPolicyTLS} value. */
export type ClientPolicyTLS = Static<typeof ClientPolicyTLS>;

/** `ClientPolicy{tls?}`. */
export const ClientPolicy = StructObject({ tls: Type.Optional(ClientPolicyTLS) });
/** A {@link ClientPolicy} value. */
export type ClientPolicy = Static<typeof ClientPolicy>;

/** `BackendDefaults{clientPolicy?}`: default client policy for all backends; a backend's own policy overrides it. */
export const BackendDefaults = StructObject({ clientPolicy: Type.Optional(ClientPolicy) });
/** A {@link BackendDefaults} value. */
export type BackendDefaults = Static<typeof BackendDefaults>;

/** VirtualGateway listener validation trust: `acm` (CRD only), `file`, `sds` — exactly one; the client policy's shape. */
export const VirtualGatewayListenerTLSValidationContextTrust = TLSValidationContextTrust;

/** `VirtualGatewayListenerTLS{mode, certificate(acm|file|sds), validation?}`: validation takes the client policy's trust shape. */
export const VirtualGatewayListenerTLS = listenerTls(TLSValidationContext);
/** A {@link VirtualGatewayListenerTLS} value. */
export type VirtualGatewayListenerTLS = Static<typeof VirtualGatewayListenerTLS>;

/** `VirtualGatewayClientPolicyTLS{enforce? (default true), ports?, certificate?(file|sds), validation}`. */
export const VirtualGatewayClientPolicyTLS = ClientPolicyTLS;
/** A {@link VirtualGatewayClientPolicyTLS} value. */
export type VirtualGatewayClientPolicyTLS = ClientPolicyTLS;

/** `VirtualGatewayBackendDefaults{clientPolicy?{tls?}}`: a gateway has only a default client policy. */
export const VirtualGatewayBackendDefaults = BackendDefaults;
/** A {@link VirtualGatewayBackendDefaults} value. */
export type VirtualGatewayBackendDefaults = BackendDefaults;
