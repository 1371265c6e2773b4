import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Reads a key kept in a file under DATA_DIR, creating it with `generate()` on first
 * start (mode 0600). `wx`: when two processes start at once, the first key written
 * wins and both use it. `onCreated` runs when this call wrote the file (a new key).
 */
export async function readOrCreateKeyFile(file: string, generate: () => string, onCreated?: () => void): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  const key = generate();
  await mkdir(dirname(file), { recursive: true });
  try {
    await writeFile(file, key, { flag: 'wx', mode: 0o600 });
    onCreated?.();
    return key;
  } catch (err) {
    if (err.code === 'EEXIST') return readFile(file, 'utf8');
    throw err;
  }
}
