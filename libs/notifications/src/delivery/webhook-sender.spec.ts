import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TargetPolicy } from '../target-policy.js';
import { verifyWebhookSignature } from './webhook-signature.js';
import { WebhookSender } from './webhook-sender.js';

/** A real subscriber on 127.0.0.1; host names reach it only through the policy's resolver. */
describe('WebhookSender', () => {
  let server: Server;
  let port: number;
  let answer: 'ok' | 'hang' = 'ok';
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        if (answer === 'ok') res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    received.length = 0;
    answer = 'ok';
  });

  const target = (host: string, extra: Partial<{ headers: Record<string, string>; timeoutMs: number }> = {}) => ({
    url: `http://${host}:${port}/hook`,
    secret: 'shh',
    headers: extra.headers ?? {},
    timeoutMs: extra.timeoutMs ?? 2000,
  });
  const ids = { delivery: 'd-1', event: 'e-1' };

  it('connects to the addresses the policy resolved, and signs the body; custom headers cannot override its own', async () => {
    const sender = new WebhookSender(new TargetPolicy(true, async () => ['127.0.0.1']));
    const result = await sender.send(target('hooks.example.test', { headers: { 'X-Team': 'blue', 'x-berth-signature': 'forged' } }), ids, '{"events":[]}');
    sender.onModuleDestroy();
    expect(result).toMatchObject({ ok: true, statusCode: 204, error: null, refused: false });
    expect(received).toHaveLength(1);
    const [{ headers, body }] = received;
    expect(headers).toMatchObject({ 'x-team': 'blue', 'x-berth-delivery': 'd-1', 'x-berth-event': 'e-1', host: `hooks.example.test:${port}` });
    expect(verifyWebhookSignature('shh', body, headers['x-berth-signature'] as string)).toBe(true);
  });

  it('refuses at connect time a name that resolves to a loopback or link-local address, sending nothing', async () => {
    const rebinding = new WebhookSender(new TargetPolicy(false, async () => ['93.184.215.14', '127.0.0.1']));
    const result = await rebinding.send(target('rebind.example.test'), ids, '{}');
    expect(result).toMatchObject({ ok: false, statusCode: null, refused: true });
    expect(result.error).toMatch(/rebind\.example\.test \(127\.0\.0\.1\) is a loopback address/);
    const metadata = new WebhookSender(new TargetPolicy(false, async () => ['::ffff:a9fe:a9fe']));
    expect(await metadata.send(target('meta.example.test'), ids, '{}')).toMatchObject({ refused: true, error: expect.stringMatching(/link-local/) });
    expect(received).toEqual([]);
  });

  it('bounds the whole attempt by the timeout, and reports a resolver failure as a retryable error', async () => {
    answer = 'hang';
    const sender = new WebhookSender(new TargetPolicy(true, async () => ['127.0.0.1']));
    const slow = await sender.send(target('slow.example.test', { timeoutMs: 300 }), ids, '{}');
    expect(slow).toMatchObject({ ok: false, statusCode: null, refused: false, error: 'timeout after 300 ms' });
    expect(slow.durationMs).toBeLessThan(2000);
    const failing = new WebhookSender(
      new TargetPolicy(false, async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example.test'), { code: 'ENOTFOUND' });
      }),
    );
    expect(await failing.send(target('nowhere.example.test'), ids, '{}')).toMatchObject({ ok: false, refused: false, error: expect.stringMatching(/ENOTFOUND/) });
    sender.onModuleDestroy();
  });
});
