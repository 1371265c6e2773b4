import { Body, Delete, Get, Param, Put, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { z } from 'zod';
import { type ChangeContext, MembershipService } from '../auth.js';
import { NamespaceRole } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { memberList, memberView, setMemberBody } from '../schemas/namespace.schemas.js';

@ApiController('namespaces/:ns/members', 'members')
export class MemberController {
  constructor(private readonly memberships: MembershipService) {}

  @Get()
  @NamespaceRole('reader')
  @Operation({ id: 'listMembers', summary: 'List the members of a namespace (members)', status: 200, answer: memberList })
  async list(@Param('ns') ns: string) {
    return { items: await this.memberships.list(ns) };
  }

  @Put(':username')
  @NamespaceRole('owner')
  @Operation({
    id: 'setMember',
    summary: "Set a user's role in the namespace: 201 when added, 200 when changed (owners)",
    status: [200, 201],
    answer: memberView,
    errors: [409],
  })
  async set(
    @Param('ns') ns: string,
    @Param('username') username: string,
    @Body({ schema: setMemberBody }) body: z.output<typeof setMemberBody>,
    @Change() ctx: ChangeContext,
    @Res({ passthrough: true }) res: Response,
  ) {
    const { member, created } = await this.memberships.set(ns, username, body.role, ctx);
    res.status(created ? 201 : 200);
    return member;
  }

  @Delete(':username')
  @NamespaceRole('owner')
  @Operation({ id: 'removeMember', summary: 'Remove a member (owners); the last owner of an organisation stays', status: 204, errors: [409] })
  async remove(@Param('ns') ns: string, @Param('username') username: string, @Change() ctx: ChangeContext): Promise<void> {
    await this.memberships.remove(ns, username, ctx);
  }
}
