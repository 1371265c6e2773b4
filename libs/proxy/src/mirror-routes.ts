import { Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { LRUCache } from 'lru-cache';
import { DataSource } from 'typeorm';
import { namespaceOf } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import { ProxyDirectory } from './proxy-directory.js';
import { ProxyNamespaceStore } from './proxy-namespace.store.js';
import { mirrorHost } from './upstream-settings.js';

/** After rewriteV2Path: `/v2/<encoded name>/<ending>`. */
const ROUTED = /^\/v2\/([^/?]+)(\/[^?]*)(\?.*)?$/;
const NAMESPACE_CACHE_MS = 5000;

/**
 * Mirror mode, for clients that do not rename: a request under /v2 is served from a proxy
 * namespace when containerd names the upstream (`?ns=docker.io`: the proxy namespace whose
 * upstream is that host), or, with MIRROR_DEFAULT_NAMESPACE, when the name lies in no
 * namespace (dockerd's registry-mirrors sends `library/alpine`). The URL is rewritten
 * before routing and authentication, so the request is authorised, served, logged and
 * counted as one for `<proxy namespace>/<name>`; its challenge names that scope.
 */
@Injectable()
export class MirrorRoutes {
  private readonly existing = new LRUCache<string, boolean>({ max: 10_000, ttl: NAMESPACE_CACHE_MS });

  constructor(
    private readonly directory: ProxyDirectory,
    private readonly config: BerthConfig,
    private readonly dataSource: DataSource,
    private readonly store: ProxyNamespaceStore,
  ) {}

  readonly handle = (req: Request, _res: Response, next: NextFunction): void => {
    const match = ROUTED.exec(req.url);
    if (!match || match[1] === '_catalog') return next();
    const query = match[3] ?? '';
    const ns = query.includes('ns=') ? new URLSearchParams(query.slice(1)).get('ns') : null;
    let name: string;
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      return next();
    }
    const rewrite = (namespace: string) => {
      req.url = `/v2/${encodeURIComponent(`${namespace}/${name}`)}${match[2]}${query}`;
    };
    if (ns) {
      const entry = this.directory.forHost(mirrorHost(ns));
      if (entry && namespaceOf(name) !== entry.namespace.name) rewrite(entry.namespace.name);
      return next();
    }
    const fallback = this.config.proxy.mirrorDefaultNamespace;
    if (!fallback || !this.directory.get(fallback)) return next();
    this.namespaceExists(namespaceOf(name)).then(
      (exists) => {
        if (!exists) rewrite(fallback);
        next();
      },
      () => next(),
    );
  };

  private async namespaceExists(namespace: string): Promise<boolean> {
    const known = this.existing.get(namespace);
    if (known !== undefined) return known;
    const exists = await this.store.namespaceExists(this.dataSource.manager, namespace);
    this.existing.set(namespace, exists);
    return exists;
  }
}
