import { ConflictException, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, type ChangeContext, NamespaceService, type NamespaceView, fieldError, lockNamespace } from '@berth/auth';
import { isRepositoryName } from '@berth/core';
import type { Visibility } from '@berth/database';
import { SecretBox, TargetNotAllowedError } from '@berth/notifications';
import { ProxyDirectory } from './proxy-directory.js';
import { type UpstreamRow, type UpstreamWrite, ProxyNamespaceStore } from './proxy-namespace.store.js';
import { checkUpstreamUrl } from './upstream-settings.js';

/** An upstream as an administrator writes it; secrets set to null are removed, left out are kept. */
export interface UpstreamInput {
  url: string;
  pathPrefix?: string | null;
  username?: string | null;
  password?: string | null;
  token?: string | null;
  insecure?: boolean;
  caBundle?: string | null;
  tagTtlSeconds?: number;
}

/** An upstream as the admin API shows it: never its secrets. */
export interface UpstreamView {
  url: string;
  pathPrefix: string | null;
  username: string | null;
  hasPassword: boolean;
  hasToken: boolean;
  insecure: boolean;
  hasCaBundle: boolean;
  tagTtlSeconds: number;
  health: { lastSuccessAt: Date | null; lastErrorAt: Date | null; lastError: string | null };
}

const DEFAULT_TAG_TTL_SECONDS = 300;

/** Creating proxy namespaces and changing their upstreams (the admin API's side of libs/proxy). */
@Injectable()
export class ProxyNamespaceService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly namespaces: NamespaceService,
    private readonly store: ProxyNamespaceStore,
    private readonly directory: ProxyDirectory,
    private readonly secrets: SecretBox,
    private readonly audit: AuditService,
  ) {}

  async create(input: { name: string; visibility?: Visibility; upstream: UpstreamInput }, ctx: ChangeContext): Promise<NamespaceView & { upstream: UpstreamView }> {
    const write = this.prepare(input.upstream, undefined);
    const view = await this.namespaces.createOrganization({ name: input.name, visibility: input.visibility }, ctx, {
      kind: 'proxy',
      within: (manager, id) => this.store.upsert(manager, id, write),
      detail: { kind: 'proxy', upstream: write.url },
    });
    await this.directory.reload();
    return { ...view, upstream: (await this.view(input.name))! };
  }

  /** Changes the upstream of a proxy namespace: fields left out stay as they are. */
  async update(name: string, patch: Partial<UpstreamInput>, ctx: ChangeContext): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const namespace = await lockNamespace(manager, name);
      const current = namespace.kind === 'proxy' ? await this.store.find(manager, name) : undefined;
      if (!current) throw new ConflictException(`${name} is not a proxy namespace: it has no upstream`);
      const write = this.prepare({ url: current.url, ...patch }, current);
      await this.store.upsert(manager, namespace.id, write);
      await this.audit.record(
        { ...ctx, action: 'namespace.upstream', target: `namespace:${name}`, detail: { url: write.url, changed: Object.keys(patch).sort() } },
        manager,
      );
    });
    await this.directory.reload();
  }

  /** The upstream of `name`, or null when it is no proxy namespace. */
  async view(name: string): Promise<UpstreamView | null> {
    const row = await this.store.find(this.dataSource.manager, name);
    if (!row) return null;
    return {
      url: row.url,
      pathPrefix: row.pathPrefix,
      username: row.username,
      hasPassword: row.sealedPassword !== null,
      hasToken: row.sealedToken !== null,
      insecure: row.insecure,
      hasCaBundle: row.caBundle !== null,
      tagTtlSeconds: row.tagTtlSeconds,
      health: { lastSuccessAt: row.lastSuccessAt, lastErrorAt: row.lastErrorAt, lastError: row.lastError },
    };
  }

  /** Checks the input and seals its secrets; `current` supplies what the input leaves out. */
  private prepare(input: UpstreamInput, current: UpstreamRow | undefined): UpstreamWrite {
    const checked = checkUpstreamUrl(input.url);
    if ('error' in checked) throw fieldError('upstream.url', checked.error);
    try {
      this.directory.targetPolicy.assertAllowedUrl(checked.url);
    } catch (err) {
      if (err instanceof TargetNotAllowedError) throw fieldError('upstream.url', err.message);
      throw err;
    }
    const pathPrefix = input.pathPrefix === undefined ? (current?.pathPrefix ?? null) : input.pathPrefix;
    if (pathPrefix !== null && !isRepositoryName(pathPrefix)) throw fieldError('upstream.pathPrefix', 'must be a repository name path, e.g. library or myorg/team');
    const caBundle = input.caBundle === undefined ? (current?.caBundle ?? null) : input.caBundle;
    if (caBundle !== null && !caBundle.includes('-----BEGIN CERTIFICATE-----')) throw fieldError('upstream.caBundle', 'must be PEM certificates');
    // Secrets kept from before go only to the origin they were given for: a new URL needs them again.
    const sameOrigin = current !== undefined && current.url === checked.url;
    const seal = (value: string | null | undefined, sealed: string | null | undefined) =>
      value === undefined ? (sameOrigin ? (sealed ?? null) : null) : value === null ? null : this.secrets.encrypt(value);
    const write: UpstreamWrite = {
      url: checked.url,
      host: checked.host,
      pathPrefix,
      username: input.username === undefined ? (current?.username ?? null) : input.username,
      sealedPassword: seal(input.password, current?.sealedPassword),
      sealedToken: seal(input.token, current?.sealedToken),
      insecure: input.insecure ?? current?.insecure ?? false,
      caBundle,
      tagTtlSeconds: input.tagTtlSeconds ?? current?.tagTtlSeconds ?? DEFAULT_TAG_TTL_SECONDS,
    };
    if (write.sealedPassword !== null && write.username === null) throw fieldError('upstream.username', 'is required with a password');
    if (write.sealedToken !== null && write.sealedPassword !== null) throw fieldError('upstream.token', 'give a token or a username and password, not both');
    return write;
  }
}
