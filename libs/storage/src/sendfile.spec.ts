/** The addon wrapper against real TCP connections on 127.0.0.1 and a real file. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesSentByFile, sendFile, sendfileAvailable, sendfileDescriptor } from './sendfile.js';

const SIZE = 16 * 1024 * 1024 + 3;
const content = randomBytes(SIZE);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A connected pair: `server` is the accepted side, `client` the connecting one. */
async function connectedPair(): Promise<{ server: net.Socket; client: net.Socket; close(): void }> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  listener.close();
  client.on('error', () => undefined);
  server.on('error', () => undefined);
  return { server, client, close: () => (client.destroy(), server.destroy()) };
}

function receive(client: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => client.on('end', () => resolve(Buffer.concat(chunks))));
}

describe.runIf(sendfileAvailable())('sendFile (berth-sendfile addon)', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-sendfile-'));
    file = join(dir, 'blob');
    await writeFile(file, content);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('sends exactly the range, even with the caller closing its descriptor at once', async () => {
    const pair = await connectedPair();
    try {
      const received = receive(pair.client);
      const handle = await open(file, 'r');
      const sent = sendFile(pair.server, handle.fd, 1234, SIZE - 2000, 30_000);
      await handle.close();
      await sent;
      pair.server.end();
      expect(sha(await received)).toBe(sha(content.subarray(1234, SIZE - 766)));
      expect(bytesSentByFile(pair.server)).toBe(SIZE - 2000);
    } finally {
      pair.close();
    }
  });

  it('rejects a short file with EIO after sending what there was', async () => {
    const pair = await connectedPair();
    try {
      void receive(pair.client);
      const handle = await open(file, 'r');
      await expect(sendFile(pair.server, handle.fd, SIZE - 10, 100, 30_000)).rejects.toMatchObject({ code: 'EIO' });
      await handle.close();
      expect(bytesSentByFile(pair.server)).toBe(10);
    } finally {
      pair.close();
    }
  });

  it('gives up on a client that reads nothing for the idle timeout (ETIMEDOUT)', async () => {
    const pair = await connectedPair();
    try {
      pair.client.pause();
      const handle = await open(file, 'r');
      const started = Date.now();
      await expect(sendFile(pair.server, handle.fd, 0, SIZE, 500)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      await handle.close();
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(bytesSentByFile(pair.server)).toBeLessThan(SIZE);
    } finally {
      pair.close();
    }
  });

  it('stops soon when Node closes the socket meanwhile, and closes its descriptors', async () => {
    const fds = (await readdir('/proc/self/fd')).length;
    const pair = await connectedPair();
    pair.client.pause();
    const handle = await open(file, 'r');
    const sent = sendFile(pair.server, handle.fd, 0, SIZE, 60_000);
    await handle.close();
    await sleep(100);
    const started = Date.now();
    pair.server.destroy();
    await expect(sent).rejects.toMatchObject({ code: expect.stringMatching(/^(EPIPE|ECONNRESET)$/) });
    expect(Date.now() - started).toBeLessThan(2000);
    pair.close();
    await sleep(100);
    expect((await readdir('/proc/self/fd')).length).toBeLessThanOrEqual(fds);
  });

  it('refuses a socket without a descriptor', async () => {
    const pair = await connectedPair();
    pair.close();
    expect(sendfileDescriptor(pair.server)).toBeNull();
    await expect(sendFile(pair.server, 0, 0, 1, 1000)).rejects.toThrow('cannot write to this socket');
  });
});
