import { Body, Get, Param, Post, Query } from '@nestjs/common';
import { ChangesContent } from '@berth/distribution';
import type { z } from 'zod';
import type { ChangeContext } from '../auth.js';
import { AdminOnly } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { pageQuery } from '../schemas/common.schemas.js';
import { gcRun, gcRunPage, gcRunParam, startGcBody } from '../schemas/gc.schemas.js';
import { GcAdminService } from '../services/gc-admin.service.js';

@ApiController('system/gc', 'system')
export class GcController {
  constructor(private readonly gc: GcAdminService) {}

  @Post()
  @AdminOnly()
  @ChangesContent((req) => req.body?.dryRun !== true)
  @Operation({
    id: 'startGc',
    summary: 'Start a garbage collection (it runs in the background; 409 while one runs). dryRun: report only; deleteUntagged: also untagged manifests',
    status: 202,
    answer: gcRun,
    errors: [405, 409],
  })
  start(@Body({ schema: startGcBody }) body: z.output<typeof startGcBody>, @Change() ctx: ChangeContext) {
    return this.gc.start(body, ctx);
  }

  @Get()
  @AdminOnly()
  @Operation({ id: 'listGcRuns', summary: 'Past and running garbage collections, newest first, with what each freed', status: 200, answer: gcRunPage })
  list(@Query({ schema: pageQuery }) query: z.output<typeof pageQuery>) {
    return this.gc.list(query);
  }

  @Get(':id')
  @AdminOnly()
  @Operation({ id: 'getGcRun', summary: 'One garbage collection run', status: 200, answer: gcRun })
  get(@Param('id', { schema: gcRunParam }) id: string) {
    return this.gc.get(id);
  }
}
