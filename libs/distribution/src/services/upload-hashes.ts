import { Digester } from '@berth/core';

const MAX_ENTRIES = 10_000;

/**
 * The running sha256 of upload sessions this process has been writing, so the final
 * PUT needs no second pass over the bytes. Only a shortcut: a session resumed in
 * another process (or after a restart) has no entry here and is re-hashed from
 * storage at the end. Bounded, oldest first out, so abandoned sessions cost nothing.
 */
export class UploadHashes {
  private readonly digesters = new Map<string, Digester>();

  /** The digester of `id` if it has seen exactly the first `size` bytes; a new one at size 0. */
  take(id: string, size: number): Digester | undefined {
    const digester = this.digesters.get(id);
    this.digesters.delete(id);
    if (digester && digester.size === size) return digester;
    return size === 0 ? new Digester('sha256') : undefined;
  }

  keep(id: string, digester: Digester): void {
    this.digesters.set(id, digester);
    if (this.digesters.size > MAX_ENTRIES) this.digesters.delete(this.digesters.keys().next().value as string);
  }

  forget(id: string): void {
    this.digesters.delete(id);
  }
}
