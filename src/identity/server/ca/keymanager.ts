/**
 * Key managers for the server's CA and JWT signing keys (SPIRE `KeyManager` plugins `memory` and
 * `disk`). Keys are EC P-256. The disk manager keeps PKCS#8 PEM keys in one JSON file, mode 0600,
 * replaced atomically (write to a temp file, fsync, rename) so a crash leaves the old or the new file.
 */
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { dirname } from 'node:path';
import { generateKeyPair } from '../../../spiffe/index.js';
import { DataStoreError } from '../errors.js';

/** What the CA needs from a key manager (SPIRE `KeyManager`: GenerateKey, GetKey). */
export interface KeyManager {
  /** Generates (replacing any previous) the P-256 private key named `id`. */
  generateKey(id: string): KeyObject;
  /** The private key named `id`, or undefined (e.g. a memory key after a restart). */
  getKey(id: string): KeyObject | undefined;
  /** Forgets keys whose ids aren't in `keep`. */
  retainKeys(keep: ReadonlySet<string>): void;
}

/** Keys in process memory only: lost on restart, so the CA prepares a new one at start. */
export class MemoryKeyManager implements KeyManager {
  readonly #keys = new Map<string, KeyObject>();
  generateKey(id: string): KeyObject {
    const { privateKey } = generateKeyPair();
    this.#keys.set(id, privateKey);
    return privateKey;
  }
  getKey(id: string): KeyObject | undefined {
    return this.#keys.get(id);
  }
  retainKeys(keep: ReadonlySet<string>): void {
    for (const id of [...this.#keys.keys()]) if (!keep.has(id)) this.#keys.delete(id);
  }
}

/**
 * Keys persisted in `keysPath` (JSON `{ "keys": { "<id>": "<PKCS#8 PEM>" } }`, mode 0600).
 * Throws DataStoreError when the file exists but can't be read or parsed.
 */
export class DiskKeyManager implements KeyManager {
  readonly #path: string;
  readonly #keys = new Map<string, KeyObject>();

  constructor(keysPath: string) {
    this.#path = keysPath;
    let text: string | undefined;
    try {
      text = readFileSync(keysPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new DataStoreError(`cannot read keys file ${keysPath}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    if (text !== undefined) {
      try {
        const doc = JSON.parse(text) as { keys: Record<string, string> };
        for (const [id, pem] of Object.entries(doc.keys)) this.#keys.set(id, createPrivateKey(pem));
      } catch (err) {
        throw new DataStoreError(`keys file ${keysPath} is corrupt: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }

  generateKey(id: string): KeyObject {
    const { privateKey } = generateKeyPair();
    this.#keys.set(id, privateKey);
    this.#save();
    return privateKey;
  }

  getKey(id: string): KeyObject | undefined {
    return this.#keys.get(id);
  }

  retainKeys(keep: ReadonlySet<string>): void {
    let changed = false;
    for (const id of [...this.#keys.keys()]) {
      if (!keep.has(id)) changed = this.#keys.delete(id) || changed;
    }
    if (changed) this.#save();
  }

  #save(): void {
    const keys: Record<string, string> = {};
    for (const [id, k] of this.#keys) keys[id] = k.export({ type: 'pkcs8', format: 'pem' }) as string;
    mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 });
    const tmp = `${this.#path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    chmodSync(tmp, 0o600);
    try {
      writeSync(fd, JSON.stringify({ keys }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#path);
  }
}
