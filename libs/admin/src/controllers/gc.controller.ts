import { Body, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { ChangesContent } from '@berth/distribution';
import type { z } from 'zod';
import type { ChangeContext } from '../auth.js';
import { AdminOnly } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { pageQuery } from '../schemas/common.schemas.js';
import { gcRunParam, startGcBody } from '../schemas/gc.schemas.js';
import { GcAdminService } from '../services/gc-admin.service.js';

@ApiController('system/gc', 'system')
export class GcController {
  constructor(private readonly gc: GcAdminService) {}

  @Post()
  @AdminOnly()
  @ChangesContent((req) => req.body?.dryRun !== true)
  @HttpCode(202)
  @ApiOperation({
    summary: 'Start a garbage collection (it runs in the background; 409 while one runs). dryRun: report only; deleteUntagged: also untagged manifests',
  })
  start(@Body({ schema: startGcBody }) body: z.output<typeof startGcBody>, @Change() ctx: ChangeContext) {
    return this.gc.start(body, ctx);
  }

  @Get()
  @AdminOnly()
  @ApiOperation({ summary: 'Past and running garbage collections, newest first, with what each freed' })
  list(@Query({ schema: pageQuery }) query: z.output<typeof pageQuery>) {
    return this.gc.list(query);
  }

  @Get(':id')
  @AdminOnly()
  @ApiOperation({ summary: 'One garbage collection run' })
  get(@Param('id', { schema: gcRunParam }) id: string) {
    return this.gc.get(id);
  }
}
