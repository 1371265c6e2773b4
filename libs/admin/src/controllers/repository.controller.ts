import { Delete, Get, HttpCode, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiParam } from '@nestjs/swagger';
import type { z } from 'zod';
import { ChangesContent, RequestEventContext } from '@berth/distribution';
import type { EventContext } from '@berth/notifications';
import type { ChangeContext, UserIdentity } from '../auth.js';
import { AnyUser, RepositoryAction } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { CurrentUser } from '../http/current-user.decorator.js';
import { repositoryParam, tagParam } from '../http/repository-param.js';
import { pageQuery } from '../schemas/common.schemas.js';
import { listRepositoriesQuery } from '../schemas/repository.schemas.js';
import { RepositoryAdminService } from '../services/repository-admin.service.js';

const NAME_PARAM = {
  name: 'name',
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
  @ApiOperation({ summary: 'List the repositories you may pull (q: part of the name)' })
  list(@Query({ schema: listRepositoriesQuery }) query: z.output<typeof listRepositoriesQuery>, @CurrentUser() user: UserIdentity) {
    return this.repositories.list(user, query);
  }

  @Get('*name/tags')
  @RepositoryAction('pull')
  @ApiParam(NAME_PARAM)
  @ApiOperation({ summary: "List a repository's tags" })
  tags(@Param('name') name: string[], @Query({ schema: pageQuery }) query: z.output<typeof pageQuery>) {
    return this.repositories.tags(repositoryParam(name), query);
  }

  @Delete('*name/tags/:tag')
  @RepositoryAction('delete')
  @ChangesContent()
  @HttpCode(204)
  @ApiParam(NAME_PARAM)
  @ApiOperation({ summary: 'Delete a tag (maintainers); the manifest stays' })
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
  @ApiOperation({ summary: 'Get a repository with its tags and sizes' })
  get(@Param('name') name: string[]) {
    return this.repositories.get(repositoryParam(name));
  }

  @Delete('*name')
  @RepositoryAction('delete')
  @ChangesContent()
  @HttpCode(204)
  @ApiParam(NAME_PARAM)
  @ApiOperation({ summary: 'Delete a repository (maintainers); its blobs stay in storage until garbage collection' })
  async delete(@Param('name') name: string[], @Change() ctx: ChangeContext, @RequestEventContext() event: EventContext): Promise<void> {
    await this.repositories.delete(repositoryParam(name), ctx, event);
  }
}
