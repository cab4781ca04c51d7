/**
 * When to rotate an X509-SVID (SPIRE `pkg/common/rotationutil`, reference spiffe.md §b.4): once the
 * remaining lifetime is at most half the lifetime, jittered by ±10 %, where lifetime = notAfter −
 * notBefore. The decision is a pure function of (now, certificate, jitter); the loop around it lives
 * in the manager and draws one jitter per SVID.
 */

/** Largest jitter fraction: the half-life threshold moves by up to ±10 %. */
export const ROTATION_JITTER = 0.1;

/** A uniformly drawn jitter in [−{@link ROTATION_JITTER}, +{@link ROTATION_JITTER}]. */
export function drawRotationJitter(random: () => number = Math.random): number {
  return (random() * 2 - 1) * ROTATION_JITTER;
}

/** A certificate's validity, ms since the epoch (see `CertificateChain`). */
export interface Validity {
  notBefore: number;
  notAfter: number;
}

/**
 * The instant (ms since the epoch) from which `cert` should be rotated: notAfter − (lifetime/2) ×
 * (1 + jitter). `jitter` is a fraction in [−0.1, 0.1] (positive = rotate earlier).
 */
export function rotationTimeMs(cert: Validity, jitter: number): number {
  return cert.notAfter - ((cert.notAfter - cert.notBefore) / 2) * (1 + jitter);
}

/** True when `cert` must be rotated at `nowMs` (see {@link rotationTimeMs}); expired certs always. */
export function shouldRotate(nowMs: number, cert: Validity, jitter: number): boolean {
  return nowMs >= rotationTimeMs(cert, jitter) || nowMs >= cert.notAfter;
}
