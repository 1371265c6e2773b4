import { Body, Delete, Get, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { ChangesContent } from '@berth/distribution';
import type { z } from 'zod';
import { type ChangeContext, type UserIdentity, UserService } from '../auth.js';
import { AdminOnly, AnyUser, SelfOrAdmin } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { CurrentUser } from '../http/current-user.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { forceQuery, forced } from '../schemas/common.schemas.js';
import { changePasswordBody, createUserBody, listUsersQuery, updateUserBody, userPage, userView } from '../schemas/user.schemas.js';

@ApiController('users', 'users')
export class UserController {
  constructor(private readonly users: UserService) {}

  @Post()
  @AdminOnly()
  @Operation({ id: 'createUser', summary: 'Create a user and their personal namespace', status: 201, answer: userView, errors: [409] })
  create(@Body({ schema: createUserBody }) body: z.output<typeof createUserBody>, @Change() ctx: ChangeContext) {
    return this.users.create(body, ctx);
  }

  @Get()
  @AdminOnly()
  @Operation({ id: 'listUsers', summary: 'List users (q: part of the username)', status: 200, answer: userPage })
  list(@Query({ schema: listUsersQuery }) query: z.output<typeof listUsersQuery>) {
    return this.users.list(query);
  }

  @Put('me/password')
  @AnyUser()
  @Operation({ id: 'changeOwnPassword', summary: 'Change your own password', status: 204 })
  async changePassword(
    @Body({ schema: changePasswordBody }) body: z.output<typeof changePasswordBody>,
    @CurrentUser() user: UserIdentity,
    @Change() ctx: ChangeContext,
  ): Promise<void> {
    await this.users.changeOwnPassword(user.username, body.currentPassword, body.newPassword, ctx);
  }

  @Get(':username')
  @SelfOrAdmin()
  @Operation({ id: 'getUser', summary: 'Get a user (administrators, or the user themselves)', status: 200, answer: userView })
  get(@Param('username') username: string) {
    return this.users.get(username);
  }

  @Patch(':username')
  @AdminOnly()
  @Operation({ id: 'updateUser', summary: 'Grant or withdraw administration, disable or enable a user', status: 200, answer: userView, errors: [409] })
  update(@Param('username') username: string, @Body({ schema: updateUserBody }) body: z.output<typeof updateUserBody>, @Change() ctx: ChangeContext) {
    return this.users.update(username, body, ctx);
  }

  @Delete(':username')
  @AdminOnly()
  @ChangesContent(forced)
  @Operation({
    id: 'deleteUser',
    summary: 'Delete a user and their personal namespace (force=true: with its repositories)',
    status: 204,
    errors: [405, 409],
  })
  async delete(@Param('username') username: string, @Query({ schema: forceQuery }) query: z.output<typeof forceQuery>, @Change() ctx: ChangeContext): Promise<void> {
    await this.users.delete(username, query, ctx);
  }
}
