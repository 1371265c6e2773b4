import type { Readable } from 'node:stream';
import { RegistryError } from '@berth/core';

/**
 * Reads a small request body (a manifest) whole, refusing more than `limit` bytes with 413,
 * however the body is sent (Content-Length or chunked). The rest of a refused body is
 * drained, not destroyed: the connection must stay usable for the 413 to reach the client.
 */
export function readLimitedBody(req: Readable & { headers: Record<string, unknown> }, limit: number): Promise<Buffer> {
  const tooLarge = () => new RegistryError('MANIFEST_TOO_LARGE', `manifest exceeds the ${limit} byte limit`, { limit });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData).off('end', onEnd).off('error', onError);
      // Still listening, so that the client hanging up during the drain is not an unhandled error.
      req.on('error', () => undefined);
      chunks.length = 0;
      req.resume();
      reject(tooLarge());
    };
    const onEnd = () => {
      req.off('error', onError);
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      req.off('data', onData).off('end', onEnd);
      reject(err);
    };
    // A client gone before the end: settled either way (a settled promise ignores the rest).
    const onClose = () => reject(new Error('the request ended before its body'));
    req.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
  });
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
