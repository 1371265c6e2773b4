import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthConfig } from '@berth/config';
import { SecretBox } from './secret-box.js';

describe('SecretBox', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-secret-box-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips text, with a fresh IV every time', () => {
    const box = SecretBox.fromBase64(randomBytes(32).toString('base64'));
    const a = box.encrypt('s3cret ✓');
    const b = box.encrypt('s3cret ✓');
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cret');
    expect(box.decrypt(a)).toBe('s3cret ✓');
    expect(box.decrypt(b)).toBe('s3cret ✓');
  });

  it('refuses tokens that were altered or sealed with another key', () => {
    const box = SecretBox.fromBase64(randomBytes(32).toString('base64'));
    const other = SecretBox.fromBase64(randomBytes(32).toString('base64'));
    const token = box.encrypt('value');
    const raw = Buffer.from(token, 'base64url');
    raw[raw.length - 1] ^= 1;
    expect(() => box.decrypt(raw.toString('base64url'))).toThrow(/another key/);
    expect(() => other.decrypt(token)).toThrow(/another key/);
    expect(() => box.decrypt('abc')).toThrow(/not a sealed secret/);
  });

  it('takes SECRETS_KEY when set, and says what is wrong with a bad one', async () => {
    const key = randomBytes(32).toString('base64');
    const box = await SecretBox.load(new BerthConfig({ DATA_DIR: dir, SECRETS_KEY: key }));
    expect(SecretBox.fromBase64(key).decrypt(box.encrypt('x'))).toBe('x');
    await expect(SecretBox.load(new BerthConfig({ DATA_DIR: dir, SECRETS_KEY: 'c2hvcnQ=' }))).rejects.toThrow(/SECRETS_KEY must be 32 random bytes in base64/);
  });

  it('generates the key file once (mode 0600), and concurrent starts agree on it', async () => {
    const config = new BerthConfig({ DATA_DIR: join(dir, 'data') });
    const boxes = await Promise.all([SecretBox.load(config), SecretBox.load(config), SecretBox.load(config)]);
    const token = boxes[0].encrypt('shared');
    for (const box of boxes) expect(box.decrypt(token)).toBe('shared');
    expect((await stat(config.secrets.keyFile)).mode & 0o777).toBe(0o600);
    expect(Buffer.from((await readFile(config.secrets.keyFile, 'utf8')).trim(), 'base64')).toHaveLength(32);
    expect((await SecretBox.load(config)).decrypt(token)).toBe('shared');
  });
});
