import { Injectable } from '@nestjs/common';

/** Maps names clients ask for to the repositories that serve them; names it does not map are left out. */
export interface RepositoryAliasResolver {
  resolve(names: string[]): Promise<Map<string, string>>;
}

/**
 * Names that stand for another repository: the pull-through cache's mirror mode
 * (libs/proxy, MIRROR_DEFAULT_NAMESPACE) serves `library/alpine` from `hub/library/alpine`,
 * so a token asked for `library/alpine` is decided, and issued, for `hub/library/alpine`,
 * the name the request is authorised against once routed. None registered: no aliases.
 */
@Injectable()
export class RepositoryAliases {
  private resolver?: RepositoryAliasResolver;

  register(resolver: RepositoryAliasResolver): void {
    this.resolver = resolver;
  }

  async resolve(names: string[]): Promise<Map<string, string>> {
    return this.resolver && names.length ? this.resolver.resolve(names) : new Map();
  }
}
