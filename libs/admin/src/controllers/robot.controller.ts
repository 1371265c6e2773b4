import { Body, Delete, Get, Param, Post } from '@nestjs/common';
import type { z } from 'zod';
import { type ChangeContext, RobotService } from '../auth.js';
import { NamespaceRole } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { createRobotBody, robotList, robotView, robotWithSecret } from '../schemas/robot.schemas.js';

/** Robot accounts, managed by the namespace's owners. The secret is in the answer to create and rotate only. */
@ApiController('namespaces/:ns/robots', 'robots')
export class RobotController {
  constructor(private readonly robots: RobotService) {}

  @Post()
  @NamespaceRole('owner')
  @Operation({ id: 'createRobot', summary: 'Create a robot account; the answer holds its secret, shown this once', status: 201, answer: robotWithSecret, errors: [409] })
  create(@Param('ns') ns: string, @Body({ schema: createRobotBody }) body: z.output<typeof createRobotBody>, @Change() ctx: ChangeContext) {
    return this.robots.create(ns, body, ctx);
  }

  @Get()
  @NamespaceRole('owner')
  @Operation({ id: 'listRobots', summary: "List the namespace's robot accounts, revoked ones included", status: 200, answer: robotList })
  async list(@Param('ns') ns: string) {
    return { items: await this.robots.list(ns) };
  }

  @Get(':name')
  @NamespaceRole('owner')
  @Operation({ id: 'getRobot', summary: 'Get a robot account', status: 200, answer: robotView })
  get(@Param('ns') ns: string, @Param('name') name: string) {
    return this.robots.get(ns, name);
  }

  @Post(':name/rotate')
  @NamespaceRole('owner')
  @Operation({ id: 'rotateRobotSecret', summary: 'Replace the secret; the answer holds the new one, shown this once', status: 200, answer: robotWithSecret, errors: [409] })
  rotate(@Param('ns') ns: string, @Param('name') name: string, @Change() ctx: ChangeContext) {
    return this.robots.rotate(ns, name, ctx);
  }

  @Post(':name/revoke')
  @NamespaceRole('owner')
  @Operation({ id: 'revokeRobot', summary: 'Revoke the robot: it stays listed, its secret stops working', status: 200, answer: robotView })
  revoke(@Param('ns') ns: string, @Param('name') name: string, @Change() ctx: ChangeContext) {
    return this.robots.revoke(ns, name, ctx);
  }

  @Delete(':name')
  @NamespaceRole('owner')
  @Operation({ id: 'deleteRobot', summary: 'Delete the robot account', status: 204 })
  async delete(@Param('ns') ns: string, @Param('name') name: string, @Change() ctx: ChangeContext): Promise<void> {
    await this.robots.delete(ns, name, ctx);
  }
}
