import { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { reserveSendfileSlot, sendfileDescriptor } from '@berth/storage';
import type { BlobBody } from '../services/blob.service.js';

const NOTHING = Buffer.alloc(0);

/**
 * Writes the status and headers (which must include Content-Length), then the body:
 * zero-copy with sendfile(2) when the body offers it and the response owns a plain TCP
 * socket (HTTP/1.1 over TCP, not TLS, not queued behind a pipelined response) and one of
 * the transfer slots is free (reserveSendfileSlot), else streamed. Headers are gone once the body starts: a failure then can only cut the connection.
 */
export async function sendBlob(res: ServerResponse, status: number, headers: Record<string, string | number>, body: BlobBody, idleTimeoutMs: number): Promise<void> {
  res.writeHead(status, headers);
  const socket = body.sendTo ? zeroCopySocket(res) : null;
  const release = socket ? reserveSendfileSlot() : null;
  if (!body.sendTo || !socket || !release) {
    await pipeline(body.stream(), res).catch(() => res.destroy());
    return;
  }
  try {
    res.flushHeaders();
    await writtenOut(socket);
    await body.sendTo(socket, idleTimeoutMs);
  } catch {
    socket.destroy();
    return;
  } finally {
    release();
  }
  // Content-Length was sent with the headers: ending adds no bytes and keeps the connection alive.
  res.end();
}

function zeroCopySocket(res: ServerResponse): Socket | null {
  const socket = res.socket;
  // Not this response's socket yet: a pipelined response waits for the one before it.
  if (!socket || (socket as Socket & { _httpMessage?: unknown })._httpMessage !== res) return null;
  return sendfileDescriptor(socket) === null ? null : socket;
}

/**
 * Resolves once everything written to the socket so far has reached the kernel: an empty
 * write completes only after the writes queued before it. An error resolves too: the socket
 * is destroyed then, and sendTo refuses it (closing the file).
 */
function writtenOut(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.write(NOTHING, () => resolve()));
}
