import type { Readable } from 'node:stream';
import { RegistryError } from '@berth/core';

/** Reads a small request body (a manifest) whole, refusing more than `limit` bytes with 413. */
export async function readLimitedBody(req: Readable & { headers: Record<string, unknown> }, limit: number): Promise<Buffer> {
  const tooLarge = () => new RegistryError('MANIFEST_TOO_LARGE', `manifest exceeds the ${limit} byte limit`, { limit });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** `Content-Range: <start>-<end>` of a chunked upload (no `bytes=` prefix, though some clients send it). */
export function parseContentRange(header: string | undefined): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[= ])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) throw new RegistryError('RANGE_INVALID', `invalid Content-Range: ${header}`);
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new RegistryError('RANGE_INVALID', `invalid Content-Range: ${header}`);
  return { start, end };
}

/** A single `Range: bytes=…` request against a blob of `size` bytes; undefined means the whole blob. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) throw rangeNotSatisfiable(size, header);
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) throw rangeNotSatisfiable(size, header);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || end < start) throw rangeNotSatisfiable(size, header);
  return { start, end };
}

function rangeNotSatisfiable(size: number, header: string): RegistryError {
  return new RegistryError('RANGE_INVALID', `range not satisfiable: ${header}`, { size }, { 'Content-Range': `bytes */${size}` });
}
