import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AccessService, type Identity } from '@berth/auth';
import { RegistryError } from '@berth/core';
import { RepositoryService } from './repository.service.js';

export interface Page {
  items: string[];
  /** The `last` value for the next page, when more remain. */
  next?: string;
}

export interface PageRequest {
  n?: string;
  last?: string;
}

/** A page size Distribution-compatible clients never exceed, so one request cannot list millions. */
const MAX_PAGE = 10_000;

/** Tags of a repository and the catalog of repositories, in lexical order, paged by `n` and `last`. */
@Injectable()
export class ListingService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repositories: RepositoryService,
    private readonly access: AccessService,
  ) {}

  async tags(name: string, page: PageRequest): Promise<Page> {
    const repositoryId = await this.repositories.requireId(name);
    const limit = parsePageSize(page.n);
    const rows: { name: string }[] = await this.dataSource.query(
      `SELECT name FROM tags WHERE repository_id = $1 AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3`,
      [repositoryId, page.last ?? null, limit + 1],
    );
    return toPage(rows.map((r) => r.name), limit);
  }

  /** Repositories holding at least one manifest that the caller may pull. */
  async catalog(identity: Identity, page: PageRequest): Promise<Page> {
    const limit = parsePageSize(page.n);
    const pullable = this.access.pullableFilter(identity, 'r.name', 3);
    const rows: { name: string }[] = await this.dataSource.query(
      `SELECT r.name FROM repositories r
        WHERE ($1::text IS NULL OR r.name > $1)
          AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
          AND ${pullable.clause}
        ORDER BY r.name LIMIT $2`,
      [page.last ?? null, limit + 1, ...pullable.params],
    );
    return toPage(rows.map((r) => r.name), limit);
  }
}

function parsePageSize(n: string | undefined): number {
  if (n === undefined || n === '') return MAX_PAGE;
  if (!/^\d+$/.test(n)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid n: ${n.slice(0, 20)}`, { n: n.slice(0, 20) });
  return Math.min(Number(n), MAX_PAGE);
}

function toPage(names: string[], limit: number): Page {
  if (names.length <= limit) return { items: names };
  const items = names.slice(0, limit);
  return { items, next: items.at(-1) };
}
