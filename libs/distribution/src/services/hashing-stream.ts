import { Transform, type TransformCallback } from 'node:stream';
import type { Digester } from '@berth/core';

/** Passes bytes through unchanged, counting them and feeding the digester (when there is one). */
export class HashingStream extends Transform {
  written = 0;

  constructor(private readonly digester?: Digester) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.written += chunk.length;
    this.digester?.update(chunk);
    done(null, chunk);
  }
}
