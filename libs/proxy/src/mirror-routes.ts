import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { LRUCache } from 'lru-cache';
import { DataSource } from 'typeorm';
import { type RepositoryAliasResolver, RepositoryAliases, namespaceOf } from '@berth/auth';
import { isRepositoryName } from '@berth/core';
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
 * counted as one for `<proxy namespace>/<name>`; its challenge names that scope. A token
 * asked for a name in no namespace is issued for the default namespace's repository
 * (RepositoryAliases): dockerd asks for `repository:library/alpine:pull` as it is. Only
 * pulls are mirrored: other methods, and scopes asking for more than pull, keep their names.
 */
@Injectable()
export class MirrorRoutes implements OnModuleInit, OnApplicationBootstrap, RepositoryAliasResolver {
  private readonly existing = new LRUCache<string, boolean>({ max: 10_000, ttl: NAMESPACE_CACHE_MS });

  constructor(
    private readonly directory: ProxyDirectory,
    private readonly config: BerthConfig,
    private readonly dataSource: DataSource,
    private readonly store: ProxyNamespaceStore,
    private readonly aliases: RepositoryAliases,
  ) {}

  onModuleInit(): void {
    if (this.config.proxy.mirrorDefaultNamespace) this.aliases.register(this);
  }

  onApplicationBootstrap(): void {
    const fallback = this.config.proxy.mirrorDefaultNamespace;
    if (fallback && !this.directory.get(fallback)) {
      new Logger('Proxy').warn(`MIRROR_DEFAULT_NAMESPACE=${fallback} is no proxy namespace (yet): names in no namespace are not mirrored until it is created`);
    }
  }

  /** Names in no namespace, as the default mirror namespace's repositories. */
  async resolve(names: string[]): Promise<Map<string, string>> {
    const fallback = this.config.proxy.mirrorDefaultNamespace;
    const aliases = new Map<string, string>();
    if (!fallback || !this.directory.get(fallback)) return aliases;
    const missing = await this.missingNamespaces(names.map(namespaceOf));
    for (const name of names) {
      const alias = `${fallback}/${name}`;
      if (missing.has(namespaceOf(name)) && isRepositoryName(alias)) aliases.set(name, alias);
    }
    return aliases;
  }

  readonly handle = (req: Request, _res: Response, next: NextFunction): void => {
    // Mirrors serve pulls: a push keeps its name (and meets its own namespace's rules).
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
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
    this.missingNamespaces([namespaceOf(name)]).then(
      (missing) => {
        if (missing.size) rewrite(fallback);
        next();
      },
      () => next(),
    );
  };

  /** Which of these namespaces do not exist: one query for those not looked up in the last few seconds. */
  private async missingNamespaces(namespaces: string[]): Promise<Set<string>> {
    const unknown = [...new Set(namespaces)].filter((n) => !this.existing.has(n));
    if (unknown.length) {
      const found = await this.store.existingNamespaces(this.dataSource.manager, unknown);
      for (const n of unknown) this.existing.set(n, found.has(n));
    }
    return new Set(namespaces.filter((n) => this.existing.get(n) === false));
  }
}
