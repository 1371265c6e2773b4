import type { Logger } from '@nestjs/common';
import type { StorageDriver } from '@berth/storage';

const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

/**
 * The digests of every blob directory in storage, in batches of up to `batch`, in
 * digest order (listings are sorted here: drivers list unordered), starting after
 * `after` when given, so a walk that stopped can continue where it was. Entries that
 * are no content address are logged and skipped.
 */
export async function* storedDigests(storage: StorageDriver, logger: Logger, batch: number, after: string | null = null): AsyncGenerator<string[]> {
  let digests: string[] = [];
  for (const algorithm of (await storage.list('blobs')).sort()) {
    const hexLength = HEX_LENGTH[algorithm];
    if (!hexLength) continue;
    for (const prefix of (await storage.list(`blobs/${algorithm}`)).sort()) {
      // Whole fan-out directories before the cursor are skipped without listing them.
      if (after !== null && `${algorithm}:${prefix}` < after.slice(0, algorithm.length + 3)) continue;
      for (const hex of (await storage.list(`blobs/${algorithm}/${prefix}`)).sort()) {
        if (hex.length !== hexLength || !/^[a-f0-9]+$/.test(hex) || !hex.startsWith(prefix)) {
          logger.warn(`ignoring an unexpected entry in storage: blobs/${algorithm}/${prefix}/${hex}`);
          continue;
        }
        const digest = `${algorithm}:${hex}`;
        if (after !== null && digest <= after) continue;
        digests.push(digest);
        if (digests.length >= batch) {
          yield digests;
          digests = [];
        }
      }
    }
  }
  if (digests.length) yield digests;
}
