import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { RegistryAccess } from '@berth/auth';
import { MediaTypes } from '@berth/core';
import { ReferrerService } from '../services/referrer.service.js';

@Controller('v2/:name/referrers')
export class ReferrerController {
  constructor(private readonly referrers: ReferrerService) {}

  @Get(':digest')
  @RegistryAccess({ action: 'pull' })
  async list(
    @Param('name') name: string,
    @Param('digest') digest: string,
    @Query('artifactType') artifactType: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    const manifests = await this.referrers.list(name, digest, artifactType || undefined);
    res.writeHead(200, {
      'Content-Type': MediaTypes.OCI_INDEX,
      ...(artifactType ? { 'OCI-Filters-Applied': 'artifactType' } : {}),
    });
    res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests }));
  }
}
