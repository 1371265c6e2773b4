import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes at most `limit` bytes on. A chunk that would pass it first asks `raise` (once)
 * for a higher limit, as an exact recount may give; past the limit nothing more is
 * passed on, the rest of the body is read and dropped (so the client still gets an
 * answer), and the stream fails at its end with `refusal(bytes)`, `bytes` being what had
 * arrived when it passed the limit.
 */
export class ByteLimit extends Transform {
  private passed = 0;
  private exceeded = false;
  private attempted = 0;

  constructor(
    private limit: number,
    private raise: (() => Promise<number>) | undefined,
    private readonly refusal: (bytes: number) => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.exceeded) return done();
    if (this.passed + chunk.length <= this.limit) return this.pass(chunk, done);
    const raise = this.raise;
    this.raise = undefined;
    if (!raise) return this.refuse(chunk, done);
    raise().then(
      (limit) => {
        this.limit = Math.max(this.limit, limit);
        if (this.passed + chunk.length <= this.limit) this.pass(chunk, done);
        else this.refuse(chunk, done);
      },
      (err: Error) => done(err),
    );
  }

  override _flush(done: TransformCallback): void {
    done(this.exceeded ? this.refusal(this.attempted) : null);
  }

  private pass(chunk: Buffer, done: TransformCallback): void {
    this.passed += chunk.length;
    done(null, chunk);
  }

  private refuse(chunk: Buffer, done: TransformCallback): void {
    this.exceeded = true;
    this.attempted = this.passed + chunk.length;
    done();
  }
}
