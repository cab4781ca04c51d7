/** App Mesh `Duration{unit, value}` → milliseconds. */
import type { Duration } from './schema/common.js';

/** Converts an App Mesh `Duration` (`unit: s | ms`) to milliseconds. */
export function durationToMs(d: Duration): number {
  return d.unit === 's' ? d.value * 1000 : d.value;
}
