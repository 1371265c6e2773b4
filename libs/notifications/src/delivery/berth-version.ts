import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Berth's version, from the nearest package.json above this file: the repository's
 * in development and tests (sources), the image's in production (dist/ has none).
 */
function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const version: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
      return typeof version === 'string' ? version : 'unknown';
    } catch (err) {
      if (err.code !== 'ENOENT') return 'unknown';
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

export const WEBHOOK_USER_AGENT = `Berth-Webhooks/${readVersion()}`;
