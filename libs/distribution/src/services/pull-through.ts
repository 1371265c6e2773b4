import { Injectable } from '@nestjs/common';
import type { Descriptor } from '@berth/core';
import type { BlobBody } from './blob.service.js';
import type { StoredManifest } from './manifest.service.js';

/** A blob a pull-through cache is fetching (or has fetched) for one request. */
export interface UpstreamBlob {
  size: number;
  /** The bytes [start, start + length) as they arrive; the stream errors when the fill fails. */
  open(start: number, length: number): BlobBody;
}

/**
 * What a pull-through cache (libs/proxy) plugs into the pull path: for a repository in a
 * proxy namespace, manifests and referrers come from it, blobs not cached yet come
 * through it, and pushes are refused. Everything else (auth, blobs already cached,
 * listings, deletes) is the registry's ordinary path.
 */
export interface PullThrough {
  /** Whether `name` lies in a proxy namespace; answered from memory. */
  covers(name: string): boolean;
  manifest(name: string, reference: string): Promise<StoredManifest>;
  /**
   * A blob pull: `cachedSize` is the size of the blob linked in `name`, undefined when it is
   * not cached (then it is fetched, once however many ask, and comes back with `upstream`).
   */
  blob(name: string, digest: string, cachedSize: number | undefined): Promise<{ size: number; upstream?: UpstreamBlob }>;
  /** The size of a blob not linked in `name` yet, without fetching it. */
  blobSize(name: string, digest: string): Promise<number>;
  referrers(name: string, digest: string, artifactType?: string): Promise<Descriptor[]>;
}

/** Where a pull-through cache registers itself; none registered: no namespace is a proxy. */
@Injectable()
export class PullThroughHooks {
  private source?: PullThrough;

  register(source: PullThrough): void {
    this.source = source;
  }

  /** The cache serving `name`, or undefined for an ordinary repository. */
  covering(name: string): PullThrough | undefined {
    return this.source?.covers(name) ? this.source : undefined;
  }
}
