import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestRegistry, basicAuth, postgresAvailable, startRegistry } from '../support/registry.js';

const available = await postgresAvailable();
if (!available) console.warn('[tls] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL');

/** A self-signed certificate for 127.0.0.1 and its key, made by openssl. */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

function get(url: string, ca: Buffer): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      })
      .on('error', reject);
  });
}

function send(method: string, url: string, ca: Buffer, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers: { ...headers, 'Content-Length': String(body?.length ?? 0) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe.skipIf(!available)('TLS: HTTPS served directly with TLS_CERT and TLS_KEY', () => {
  let dir: string;
  let pair: { cert: string; key: string };
  let registry: TestRegistry;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tls-'));
    pair = selfSigned(dir, 'a');
    registry = await startRegistry({ env: { TLS_CERT: pair.cert, TLS_KEY: pair.key } });
  });
  afterAll(async () => {
    await registry?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers over HTTPS to a client trusting the certificate, and refuses one that does not', async () => {
    const ca = await readFile(pair.cert);
    const res = await get(`https://${registry.host}/v2/`, ca);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    await expect(get(`https://${registry.host}/v2/`, Buffer.from(''))).rejects.toThrow(/self-signed|certificate/i);
  });

  it('pulls a blob over HTTPS (streamed: sendfile cannot write to a TLS socket), whole and by range', async () => {
    const ca = await readFile(pair.cert);
    const auth = { Authorization: basicAuth(registry.admin!) };
    const blob = randomBytes(5 * 1024 * 1024 + 7);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const pushed = await send('POST', `https://${registry.host}/v2/tls/blob/blobs/uploads/?digest=${digest}`, ca, { ...auth, 'Content-Type': 'application/octet-stream' }, blob);
    expect(pushed.status).toBe(201);
    const whole = await send('GET', `https://${registry.host}/v2/tls/blob/blobs/${digest}`, ca, auth);
    expect(whole.status).toBe(200);
    expect(whole.body.equals(blob)).toBe(true);
    const range = await send('GET', `https://${registry.host}/v2/tls/blob/blobs/${digest}`, ca, { ...auth, Range: 'bytes=3000000-' });
    expect(range.status).toBe(206);
    expect(range.body.equals(blob.subarray(3000000))).toBe(true);
  });

  it('stops at start-up with a message naming the variable: a missing file, a key of another certificate, not PEM', async () => {
    const other = selfSigned(dir, 'b');
    const notPem = join(dir, 'not.pem');
    await writeFile(notPem, 'hello');
    const cases: [Record<string, string>, RegExp][] = [
      [{ TLS_CERT: join(dir, 'missing.pem'), TLS_KEY: pair.key }, /TLS_CERT: cannot read .*missing\.pem \(ENOENT\)/],
      [{ TLS_CERT: pair.cert, TLS_KEY: other.key }, /TLS_KEY: .*b-key\.pem is not the private key of the certificate/],
      [{ TLS_CERT: notPem, TLS_KEY: pair.key }, /TLS_CERT: .*not\.pem is not a PEM certificate/],
      [{ TLS_CERT: pair.cert, TLS_KEY: notPem }, /TLS_KEY: .*not\.pem is not a PEM private key/],
      [{ TLS_CERT: pair.cert }, /TLS_CERT and TLS_KEY go together/],
    ];
    for (const [env, message] of cases) await expect(startRegistry({ env }), JSON.stringify(env)).rejects.toThrow(message);

    // The real entry point prints it and exits with 2.
    const run = spawnSync(process.execPath, ['--import', './test/support/register-ts.mjs', 'apps/registry/src/main.ts'], {
      env: { ...process.env, TLS_CERT: join(dir, 'missing.pem'), TLS_KEY: pair.key, DATA_DIR: dir },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/Invalid configuration:\n {2}- TLS_CERT: cannot read .*missing\.pem \(ENOENT\)/);
  });
});
