import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
// Explicit imports: this file is not a spec, so the build's type check has no vitest globals.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidPathError, PathNotFoundError, type StorageDriver } from '../storage-driver.js';

/**
 * The behaviour every StorageDriver must show, stated only in terms of the
 * contract so any backend (filesystem, inmemory, S3, ...) can run it unchanged.
 */
export function describeStorageDriver(
  name: string,
  make: () => Promise<{ driver: StorageDriver; cleanup(): Promise<void> }>,
): void {
  describe(`StorageDriver conformance: ${name}`, () => {
    let driver: StorageDriver;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ driver, cleanup } = await make());
    });

    afterEach(async () => {
      await cleanup();
    });

    async function put(path: string, ...chunks: string[]): Promise<void> {
      const writer = await driver.writer(path, 0);
      await writer.write(Readable.from(chunks.map((chunk) => Buffer.from(chunk))));
      await writer.commit();
    }

    async function get(path: string, offset?: number, length?: number): Promise<string> {
      const parts: Buffer[] = [];
      for await (const chunk of await driver.reader(path, offset, length)) parts.push(chunk);
      return Buffer.concat(parts).toString();
    }

    describe('write and read', () => {
      it('reads back what was written and committed', async () => {
        await put('a/b/file', 'hello ', 'world');
        expect(await get('a/b/file')).toBe('hello world');
      });

      it('reports sizes through the writer and stat', async () => {
        const writer = await driver.writer('a/file', 0);
        expect(writer.size).toBe(0);
        await writer.write(Readable.from([Buffer.from('12345'), Buffer.from('678')]));
        expect(writer.size).toBe(8);
        await writer.commit();

        const info = await driver.stat('a/file');
        expect(info?.size).toBe(8);
        expect(info?.modifiedAt).toBeInstanceOf(Date);
      });

      it('stores an empty file when nothing is written', async () => {
        const writer = await driver.writer('a/empty', 0);
        await writer.commit();
        expect((await driver.stat('a/empty'))?.size).toBe(0);
        expect(await get('a/empty')).toBe('');
      });

      it('returns null from stat for missing paths and directory prefixes', async () => {
        await put('a/b/file', 'x');
        expect(await driver.stat('a/missing')).toBeNull();
        expect(await driver.stat('a/b')).toBeNull();
      });

      it('reads from an offset, and a bounded length from an offset', async () => {
        await put('file', '0123', '4567', '89');
        expect(await get('file', 3)).toBe('3456789');
        expect(await get('file', 3, 4)).toBe('3456');
        expect(await get('file', 4, 4)).toBe('4567');
        expect(await get('file', 0, 1)).toBe('0');
        expect(await get('file', 8, 100)).toBe('89');
        expect(await get('file', 10)).toBe('');
        expect(await get('file', 2, 0)).toBe('');
      });

      it('refuses negative or fractional ranges', async () => {
        await put('file', 'abc');
        await expect(driver.reader('file', -1)).rejects.toBeInstanceOf(RangeError);
        await expect(driver.reader('file', 0, -1)).rejects.toBeInstanceOf(RangeError);
        await expect(driver.reader('file', 0.5)).rejects.toBeInstanceOf(RangeError);
      });

      it('rejects from reader() itself when the path is missing', async () => {
        await put('a/b/file', 'x');
        await expect(driver.reader('a/missing')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(driver.reader('a/missing', 5, 5)).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(driver.reader('a/b')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });

    describe('resumable writers', () => {
      it('continues after committed bytes when a new writer appends', async () => {
        const first = await driver.writer('uploads/u/data', 0);
        await first.write(Readable.from([Buffer.from('chunk-one;')]));
        await first.commit();

        const second = await driver.writer('uploads/u/data', first.size);
        expect(second.size).toBe(first.size);
        await second.write(Readable.from([Buffer.from('chunk-two;')]));
        expect(second.size).toBe(20);
        await second.commit();

        const third = await driver.writer('uploads/u/data', 20);
        expect(third.size).toBe(20);
        await third.write(Readable.from([Buffer.from('three')]));
        await third.commit();

        expect(await get('uploads/u/data')).toBe('chunk-one;chunk-two;three');
        expect((await driver.stat('uploads/u/data'))?.size).toBe(25);
      });

      it('accepts several bodies through one writer', async () => {
        const writer = await driver.writer('file', 0);
        await writer.write(Readable.from([Buffer.from('ab')]));
        await writer.write(Readable.from([Buffer.from('cd')]));
        expect(writer.size).toBe(4);
        await writer.commit();
        expect(await get('file')).toBe('abcd');
      });

      it('creates a missing path at offset 0 and refuses to resume past what is stored', async () => {
        const writer = await driver.writer('new/file', 0);
        expect(writer.size).toBe(0);
        await writer.write(Readable.from([Buffer.from('abc')]));
        await writer.commit();
        expect(await get('new/file')).toBe('abc');
        await expect(driver.writer('new/file', 4)).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(driver.writer('other/file', 1)).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('drops bytes stored past the offset when resuming (a body that failed half-way)', async () => {
        await put('uploads/u/data', 'committed+partial');
        const writer = await driver.writer('uploads/u/data', 9);
        expect(writer.size).toBe(9);
        await writer.write(Readable.from([Buffer.from('-retry')]));
        await writer.commit();
        expect(await get('uploads/u/data')).toBe('committed-retry');
      });

      it('truncates when not appending', async () => {
        await put('file', 'old content that is long');
        const writer = await driver.writer('file', 0);
        expect(writer.size).toBe(0);
        await writer.write(Readable.from([Buffer.from('new')]));
        await writer.commit();
        expect(await get('file')).toBe('new');
        expect((await driver.stat('file'))?.size).toBe(3);
      });

      it('removes the file on cancel', async () => {
        await put('uploads/u/data', 'committed');
        const writer = await driver.writer('uploads/u/data', 9);
        await writer.write(Readable.from([Buffer.from('more')]));
        await writer.cancel();
        expect(await driver.stat('uploads/u/data')).toBeNull();
      });
    });

    describe('move', () => {
      it('moves a file', async () => {
        await put('uploads/u/data', 'payload');
        await driver.move('uploads/u/data', 'blobs/x/data');
        expect(await get('blobs/x/data')).toBe('payload');
        expect(await driver.stat('uploads/u/data')).toBeNull();
      });

      it('overwrites an existing target', async () => {
        await put('target', 'old');
        await put('source', 'new');
        await driver.move('source', 'target');
        expect(await get('target')).toBe('new');
        expect(await driver.stat('source')).toBeNull();
      });

      it('lets concurrent moves onto the same target all succeed', async () => {
        const sources = ['s1', 's2', 's3', 's4'].map((s) => `uploads/${s}/data`);
        for (const source of sources) await put(source, 'same content');
        await Promise.all(sources.map((source) => driver.move(source, 'blobs/same/data')));
        expect(await get('blobs/same/data')).toBe('same content');
        for (const source of sources) expect(await driver.stat(source)).toBeNull();
      });

      it('moves exactly the first `length` bytes, dropping what a failed body left past them', async () => {
        await put('uploads/u/data', 'payload', '-tail of a cut-off body');
        await driver.move('uploads/u/data', 'blobs/x/data', 7);
        expect(await driver.stat('blobs/x/data')).toMatchObject({ size: 7 });
        expect(await get('blobs/x/data')).toBe('payload');
        expect(await driver.stat('uploads/u/data')).toBeNull();
        await put('uploads/v/data', 'exact');
        await driver.move('uploads/v/data', 'blobs/y/data', 5);
        expect(await get('blobs/y/data')).toBe('exact');
      });

      it('refuses to move more bytes than the source holds', async () => {
        await put('uploads/u/data', 'short');
        await expect(driver.move('uploads/u/data', 'blobs/x/data', 6)).rejects.toBeInstanceOf(PathNotFoundError);
        expect(await driver.stat('blobs/x/data')).toBeNull();
        expect(await get('uploads/u/data')).toBe('short');
      });

      it('throws PathNotFoundError when the source is missing', async () => {
        await expect(driver.move('uploads/none/data', 'blobs/x/data')).rejects.toBeInstanceOf(PathNotFoundError);
        expect(await driver.stat('blobs/x/data')).toBeNull();
      });
    });

    describe('delete and list', () => {
      it('deletes a file', async () => {
        await put('a/file', 'x');
        await put('a/other', 'y');
        await driver.delete('a/file');
        expect(await driver.stat('a/file')).toBeNull();
        expect(await get('a/other')).toBe('y');
      });

      it('deletes everything under a directory prefix, and nothing beside it', async () => {
        await put('a/b/c', '1');
        await put('a/b/d/e', '2');
        await put('a/bb', '3');
        await driver.delete('a/b');
        expect(await driver.stat('a/b/c')).toBeNull();
        expect(await driver.stat('a/b/d/e')).toBeNull();
        expect(await driver.list('a/b')).toEqual([]);
        expect(await get('a/bb')).toBe('3');
      });

      it('ignores missing paths on delete', async () => {
        await expect(driver.delete('never/written')).resolves.toBeUndefined();
      });

      /** A file put in place by `move`, as blobs are. */
      async function placed(path: string, content: string): Promise<void> {
        await put(`staging-${path.replaceAll('/', '-')}`, content);
        await driver.move(`staging-${path.replaceAll('/', '-')}`, path);
      }

      it('deletes many files at once, their emptied directories with them, and nothing beside them', async () => {
        await placed('m/one/data', '1');
        await placed('m/two/data', '2');
        await placed('m/two-kept/data', '3');
        await placed('m/shared/data', '4');
        await placed('m/shared/kept', '5');
        await driver.deleteMany(['m/one/data', 'm/two/data', 'm/shared/data', 'never/written']);
        expect(await driver.stat('m/one/data')).toBeNull();
        expect(await driver.stat('m/two/data')).toBeNull();
        expect(await driver.stat('m/shared/data')).toBeNull();
        expect((await driver.list('m')).sort()).toEqual(['shared', 'two-kept']);
        expect(await get('m/two-kept/data')).toBe('3');
        expect(await get('m/shared/kept')).toBe('5');
        await expect(driver.deleteMany([])).resolves.toBeUndefined();
      });

      it('lists direct children, files and directories alike', async () => {
        await put('r/x', '1');
        await put('r/y/z', '2');
        await put('r/y/w', '3');
        await put('rr/q', '4');
        expect((await driver.list('r')).sort()).toEqual(['x', 'y']);
        expect((await driver.list('r/y')).sort()).toEqual(['w', 'z']);
      });

      it('lists nothing under a missing prefix', async () => {
        expect(await driver.list('missing')).toEqual([]);
      });
    });

    describe('path validation', () => {
      const invalid = ['../x', '/abs', 'a//b', 'a/../b', 'a/./b', '', '.', '..', 'a/', 'a b', 'a\0b', 'a\\b'];
      const operations: Array<[string, (d: StorageDriver, p: string) => Promise<unknown>]> = [
        ['stat', (d, p) => d.stat(p)],
        ['reader', (d, p) => d.reader(p)],
        ['writer', (d, p) => d.writer(p, 0)],
        ['writer (resume)', (d, p) => d.writer(p, 1)],
        ['move from', (d, p) => d.move(p, 'valid/target')],
        ['move to', (d, p) => d.move('valid/source', p)],
        ['delete', (d, p) => d.delete(p)],
        // Every path is checked before anything is deleted.
        ['deleteMany', (d, p) => d.deleteMany(['valid/source', p])],
        ['list', (d, p) => d.list(p)],
        ['redirectUrl', (d, p) => d.redirectUrl(p, 'GET')],
      ];

      for (const [operation, call] of operations) {
        it(`refuses invalid paths in ${operation}`, async () => {
          await put('valid/source', 'kept');
          for (const path of invalid) {
            await expect(call(driver, path), JSON.stringify(path)).rejects.toBeInstanceOf(InvalidPathError);
          }
          // A refused move must not have touched the valid side.
          expect(await get('valid/source')).toBe('kept');
          expect(await driver.stat('valid/target')).toBeNull();
        });
      }

      it('accepts names made of letters, digits, dots, dashes and underscores', async () => {
        await put('A-z_0.9/...x/.hidden', 'ok');
        expect(await get('A-z_0.9/...x/.hidden')).toBe('ok');
      });
    });

    describe('large streams', () => {
      it('streams 64 MiB in and out intact', async () => {
        const chunkSize = 1024 * 1024;
        const chunkCount = 64;
        const written = createHash('sha256');
        async function* randomChunks(): AsyncGenerator<Buffer> {
          for (let i = 0; i < chunkCount; i++) {
            const chunk = randomBytes(chunkSize);
            written.update(chunk);
            yield chunk;
          }
        }

        const writer = await driver.writer('big/data', 0);
        await writer.write(Readable.from(randomChunks()));
        await writer.commit();
        expect(writer.size).toBe(chunkSize * chunkCount);
        expect((await driver.stat('big/data'))?.size).toBe(chunkSize * chunkCount);

        const read = createHash('sha256');
        let readBytes = 0;
        for await (const chunk of await driver.reader('big/data')) {
          read.update(chunk);
          readBytes += chunk.length;
        }
        expect(readBytes).toBe(chunkSize * chunkCount);
        expect(read.digest('hex')).toBe(written.digest('hex'));
      });
    });
  });
}
