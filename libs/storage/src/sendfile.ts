import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { getSystemErrorName } from 'node:util';

interface Addon {
  send(socketFd: number, fileFd: number, offset: number, length: number, idleTimeoutMs: number, done: (errno: number, sent: number) => void): { cancel(): void };
  loadError?: Error;
}

/** The project's own N-API addon (libs/storage/native), an optional dependency: absent, everything streams. */
const addon = ((): Addon | null => {
  try {
    const loaded = createRequire(import.meta.url)('berth-sendfile') as Addon;
    return loaded.loadError ? null : loaded;
  } catch {
    return null;
  }
})();

/**
 * Transfers running at once, each on a thread of its own: past this, further pulls stream
 * through Node instead, so a crowd of slow clients cannot make threads without bound.
 */
export const MAX_SENDFILE_TRANSFERS = 64;
let reserved = 0;

/**
 * Takes one of the MAX_SENDFILE_TRANSFERS slots at once (so a burst of requests cannot all
 * pass a check before any counts), or null when all are taken; the caller calls the
 * release it gets when its transfer is over, whatever happened (a second call does nothing).
 */
export function reserveSendfileSlot(): (() => void) | null {
  if (reserved >= MAX_SENDFILE_TRANSFERS) return null;
  reserved++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    reserved--;
  };
}

/** Bytes each socket received through sendfile, which `socket.bytesWritten` does not see. */
const sentBySocket = new WeakMap<Socket, number>();

export function sendfileAvailable(): boolean {
  return addon !== null;
}

/** The descriptor of a plain TCP socket sendfile may write to, or null (TLS, no handle, a pipe-less stub). */
export function sendfileDescriptor(socket: Socket): number | null {
  if (addon === null || socket instanceof TLSSocket || socket.destroyed) return null;
  const fd = (socket as Socket & { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd > 0 ? fd : null;
}

/** Bytes sent to `socket` by sendfile so far (add to `socket.bytesWritten` for the total). */
export function bytesSentByFile(socket: Socket): number {
  return sentBySocket.get(socket) ?? 0;
}

/**
 * Copies `length` bytes of the open file `fileFd` from `offset` to the socket, zero-copy, on a
 * thread of the addon's own; the addon dup()s both descriptors, so the caller may close the file
 * once this returns. Resolves when all bytes are in the kernel; rejects on a socket error, a
 * short file, or no progress for `idleTimeoutMs`. The socket closing meanwhile cancels it.
 * The caller must have nothing else queued on the socket.
 */
export function sendFile(socket: Socket, fileFd: number, offset: number, length: number, idleTimeoutMs: number): Promise<void> {
  const socketFd = sendfileDescriptor(socket);
  if (socketFd === null) return Promise.reject(new Error('sendfile cannot write to this socket'));
  return new Promise((resolve, reject) => {
    const cancel = () => transfer.cancel();
    const transfer = addon!.send(socketFd, fileFd, offset, length, idleTimeoutMs, (errno, sent) => {
      socket.off('close', cancel);
      sentBySocket.set(socket, bytesSentByFile(socket) + sent);
      if (errno === 0) return resolve();
      const err = Object.assign(new Error(`sendfile: ${getSystemErrorName(-errno)} after ${sent} of ${length} bytes`), { errno: -errno, code: getSystemErrorName(-errno) });
      reject(err);
    });
    socket.once('close', cancel);
  });
}
