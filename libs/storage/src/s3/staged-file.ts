import type { Piece } from './s3-bucket.js';

/**
 * A file written through a writer, kept as pieces until it is moved: full parts of
 * `partSize` bytes, then a tail shorter than that. The pieces live under `<key>~/`,
 * this record of which pieces make the file at `<key>~state` (`~` never appears in a
 * storage path, so nothing else can collide with them; the record sits beside the
 * pieces rather than among them because s3rver omits a common prefix holding only
 * sub-prefixes from delimited listings). Pieces are immutable and uniquely named;
 * writing the record is the commit, so a crash at any point leaves either the old
 * file or the new one.
 */
export interface StagedFile {
  size: number;
  partSize: number;
  /** Names (under `<key>~/`) of the full parts, in order. */
  parts: string[];
  /** Name of the tail piece, or null when the size is a whole number of parts. */
  tail: string | null;
}

export function stagingPrefix(key: string): string {
  return `${key}~/`;
}

export function stateKey(key: string): string {
  return `${key}~state`;
}

export function parseStagedFile(body: Buffer): StagedFile {
  const file = JSON.parse(body.toString('utf8')) as StagedFile;
  if (!Number.isSafeInteger(file.size) || !Number.isSafeInteger(file.partSize) || !Array.isArray(file.parts)) {
    throw new Error('unreadable staged file record');
  }
  return file;
}

/** The pieces of `file` stored under `key`, in order, with their lengths. */
export function piecesOf(key: string, file: StagedFile): Piece[] {
  const pieces: Piece[] = file.parts.map((name) => ({ key: stagingPrefix(key) + name, start: 0, length: file.partSize, whole: true }));
  const tailLength = file.size - file.parts.length * file.partSize;
  if (file.tail) pieces.push({ key: stagingPrefix(key) + file.tail, start: 0, length: tailLength, whole: true });
  return pieces;
}

/** The names of every piece the record refers to. */
export function pieceNames(file: StagedFile): string[] {
  return file.tail ? [...file.parts, file.tail] : [...file.parts];
}
