import { Logger } from '@nestjs/common';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BerthConfig } from '@berth/config';
import { SigningKey } from './signing-key.js';

describe('SigningKey', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-signing-key-'));
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('warns once, when it generates a key while an external database suggests replicas; later starts reuse the key', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const config = new BerthConfig({ DATA_DIR: dir, DATABASE_URL: 'postgres://u@db:5432/berth' });
    const first = await SigningKey.load(config);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toContain('TOKEN_SIGNING_KEY is unset');
    expect((await SigningKey.load(config)).kid).toBe(first.kid);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('generates silently with the embedded database (one process)', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    await SigningKey.load(new BerthConfig({ DATA_DIR: dir }));
    expect(warn).not.toHaveBeenCalled();
  });
});
