import { Delete, Get, Param, Query } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import type { z } from 'zod';
import { ChangesContent, RequestEventContext } from '@berth/distribution';
import type { EventContext } from '@berth/notifications';
import type { ChangeContext, UserIdentity } from '../auth.js';
import { AnyUser, RepositoryAction } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { CurrentUser } from '../http/current-user.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { repositoryParam, tagParam } from '../http/repository-param.js';
import { pageQuery } from '../schemas/common.schemas.js';
import { listRepositoriesQuery, repositoryDetail, repositoryPage, tagPage } from '../schemas/repository.schemas.js';
import { RepositoryAdminService } from '../services/repository-admin.service.js';

/** One string in the document (Express hands the wildcard over as its segments). */
const NAME_PARAM = {
  name: 'name',
  type: String,
  description: 'Repository name; its slashes may be sent as they are or encoded (%2F)',
  example: 'team/app',
};

/**
 * Repository names contain slashes, hence the `*name` wildcard. The tag routes come
 * first: `team/app/tags/v1` is a tag of team/app (encode the slashes to reach a
 * repository whose name ends in `/tags/…`).
 */
@ApiController('repositories', 'repositories')
export class RepositoryController {
  constructor(private readonly repositories: RepositoryAdminService) {}

  @Get()
  @AnyUser()
  @Operation({ id: 'listRepositories', summary: 'List the repositories you may pull (q: part of the name)', status: 200, answer: repositoryPage })
  list(@Query({ schema: listRepositoriesQuery }) query: z.output<typeof listRepositoriesQuery>, @CurrentUser() user: UserIdentity) {
    return this.repositories.list(user, query);
  }

  @Get('*name/tags')
  @RepositoryAction('pull')
  @ApiParam(NAME_PARAM)
  @Operation({ id: 'listTags', summary: "List a repository's tags", status: 200, answer: tagPage })
  tags(@Param('name') name: string[], @Query({ schema: pageQuery }) query: z.output<typeof pageQuery>) {
    return this.repositories.tags(repositoryParam(name), query);
  }

  @Delete('*name/tags/:tag')
  @RepositoryAction('delete')
  @ChangesContent()
  @ApiParam(NAME_PARAM)
  @Operation({ id: 'deleteTag', summary: 'Delete a tag (maintainers); the manifest stays', status: 204, errors: [405] })
  async deleteTag(
    @Param('name') name: string[],
    @Param('tag') tag: string,
    @Change() ctx: ChangeContext,
    @RequestEventContext() event: EventContext,
  ): Promise<void> {
    await this.repositories.deleteTag(repositoryParam(name), tagParam(tag), ctx, event);
  }

  @Get('*name')
  @RepositoryAction('pull')
  @ApiParam(NAME_PARAM)
  @Operation({ id: 'getRepository', summary: 'Get a repository with its tags and sizes', status: 200, answer: repositoryDetail })
  get(@Param('name') name: string[]) {
    return this.repositories.get(repositoryParam(name));
  }

  @Delete('*name')
  @RepositoryAction('delete')
  @ChangesContent()
  @ApiParam(NAME_PARAM)
  @Operation({
    id: 'deleteRepository',
    summary: 'Delete a repository (maintainers); its blobs stay in storage until garbage collection',
    status: 204,
    errors: [405],
  })
  async delete(@Param('name') name: string[], @Change() ctx: ChangeContext, @RequestEventContext() event: EventContext): Promise<void> {
    await this.repositories.delete(repositoryParam(name), ctx, event);
  }
}
