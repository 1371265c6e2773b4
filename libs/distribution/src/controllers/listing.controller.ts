import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { CurrentPrincipal, type Principal, RegistryAccess } from '@berth/auth';
import { ListingService, type Page } from '../services/listing.service.js';

@Controller('v2')
export class ListingController {
  constructor(private readonly listing: ListingService) {}

  @Get(':name/tags/list')
  @RegistryAccess({ action: 'pull' })
  async tags(@Param('name') name: string, @Query('n') n: string | undefined, @Query('last') last: string | undefined, @Res() res: Response): Promise<void> {
    const page = await this.listing.tags(name, { n, last });
    send(res, `/v2/${name}/tags/list`, n, page, { name, tags: page.items });
  }

  @Get('_catalog')
  @RegistryAccess('catalog')
  async catalog(
    @Query('n') n: string | undefined,
    @Query('last') last: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Res() res: Response,
  ): Promise<void> {
    const page = await this.listing.catalog(principal.identity, { n, last });
    send(res, '/v2/_catalog', n, page, { repositories: page.items });
  }
}

function send(res: Response, path: string, n: string | undefined, page: Page, body: object): void {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (page.next !== undefined) {
    const query = new URLSearchParams({ ...(n ? { n } : {}), last: page.next });
    headers.Link = `<${path}?${query}>; rel="next"`;
  }
  res.writeHead(200, headers);
  res.end(JSON.stringify(body));
}
