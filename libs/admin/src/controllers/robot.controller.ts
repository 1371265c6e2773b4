import { Body, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { type ChangeContext, RobotService } from '../auth.js';
import { NamespaceRole } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { createRobotBody } from '../schemas/robot.schemas.js';

/** Robot accounts, managed by the namespace's owners. The secret is in the answer to create and rotate only. */
@ApiController('namespaces/:ns/robots', 'robots')
export class RobotController {
  constructor(private readonly robots: RobotService) {}

  @Post()
  @NamespaceRole('owner')
  @ApiOperation({ summary: 'Create a robot account; the answer holds its secret, shown this once' })
  create(@Param('ns') ns: string, @Body({ schema: createRobotBody }) body: z.output<typeof createRobotBody>, @Change() ctx: ChangeContext) {
    return this.robots.create(ns, body, ctx);
  }

  @Get()
  @NamespaceRole('owner')
  @ApiOperation({ summary: "List the namespace's robot accounts, revoked ones included" })
  async list(@Param('ns') ns: string) {
    return { items: await this.robots.list(ns) };
  }

  @Get(':name')
  @NamespaceRole('owner')
  @ApiOperation({ summary: 'Get a robot account' })
  get(@Param('ns') ns: string, @Param('name') name: string) {
    return this.robots.get(ns, name);
  }

  @Post(':name/rotate')
  @NamespaceRole('owner')
  @HttpCode(200)
  @ApiOperation({ summary: 'Replace the secret; the answer holds the new one, shown this once' })
  rotate(@Param('ns') ns: string, @Param('name') name: string, @Change() ctx: ChangeContext) {
    return this.robots.rotate(ns, name, ctx);
  }

  @Post(':name/revoke')
  @NamespaceRole('owner')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke the robot: it stays listed, its secret stops working' })
  revoke(@Param('ns') ns: string, @Param('name') name: string, @Change() ctx: ChangeContext) {
    return this.robots.revoke(ns, name, ctx);
  }

  @Delete(':name')
  @NamespaceRole('owner')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete the robot account' })
  async delete(@Param('ns') ns: string, @Param('name') name: string, @Change() ctx: ChangeContext): Promise<void> {
    await this.robots.delete(ns, name, ctx);
  }
}
