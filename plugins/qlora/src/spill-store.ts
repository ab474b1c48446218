import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeftkitError } from '@peftkit/core';

/**
 * Float32 arrays spilled to one file each under a directory (created lazily; a temporary one is removed on dispose).
 */
export class SpillStore {
  readonly #given: string | undefined;
  #dir: string | null = null;
  readonly #files = new Map<string, string>();
  #next = 0;

  constructor(dir?: string) {
    this.#given = dir;
  }

  #directory(): string {
    if (this.#dir === null) {
      if (this.#given === undefined) this.#dir = mkdtempSync(join(tmpdir(), 'peftkit-paged-'));
      else {
        mkdirSync(this.#given, { recursive: true });
        this.#dir = this.#given;
      }
    }
    return this.#dir;
  }

  write(key: string, values: Float32Array): void {
    const path = this.#files.get(key) ?? join(this.#directory(), `slot-${this.#next++}.f32`);
    writeFileSync(path, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    this.#files.set(key, path);
  }

  read(key: string, length: number): Float32Array {
    const path = this.#files.get(key);
    if (path === undefined)
      throw new PeftkitError('PEFTKIT_E_OPTIMIZER_STATE', `no spilled optimizer state for '${key}'`, { slot: key });
    const bytes = readFileSync(path);
    if (bytes.byteLength !== 4 * length) {
      throw new PeftkitError(
        'PEFTKIT_E_OPTIMIZER_STATE',
        `spilled optimizer state of '${key}' has ${bytes.byteLength} bytes, expected ${4 * length}`,
        {
          slot: key,
          path,
        },
      );
    }
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  remove(key: string): void {
    const path = this.#files.get(key);
    if (path !== undefined) rmSync(path, { force: true });
    this.#files.delete(key);
  }

  dispose(): void {
    for (const key of [...this.#files.keys()]) this.remove(key);
    if (this.#dir !== null && this.#given === undefined) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }
}
