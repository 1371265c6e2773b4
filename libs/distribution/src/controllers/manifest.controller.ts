import { Controller, Delete, Get, Head, Param, Put, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { type ChangeContext, CurrentPrincipal, type Principal, RegistryAccess } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import type { EventContext } from '@berth/notifications';
import { RequestChangeContext } from '../http/change-context.js';
import { RequestEventContext } from '../http/event-context.js';
import { readLimitedBody } from '../http/request-body.js';
import { RegistryEvents } from '../services/registry-events.js';
import { ManifestService, type StoredManifest } from '../services/manifest.service.js';
import { RepositoryService } from '../services/repository.service.js';
import { location } from './location.js';

@Controller('v2/:name/manifests')
export class ManifestController {
  constructor(
    private readonly manifests: ManifestService,
    private readonly config: BerthConfig,
    private readonly events: RegistryEvents,
    private readonly repositories: RepositoryService,
  ) {}

  @Get(':reference')
  @RegistryAccess({ action: 'pull' })
  async get(
    @Param('name') name: string,
    @Param('reference') reference: string,
    @RequestEventContext() context: EventContext,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const manifest = await this.manifests.get(name, reference);
    this.send(req, res, manifest, true);
    const tag = reference.includes(':') ? undefined : reference;
    this.events.pulled(context, () => this.events.manifestTarget(context, name, { ...manifest, size: manifest.content.length }, tag));
  }

  @Head(':reference')
  @RegistryAccess({ action: 'pull' })
  async head(@Param('name') name: string, @Param('reference') reference: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const manifest = await this.manifests.get(name, reference);
    this.send(req, res, manifest, false);
  }

  @Put(':reference')
  @RegistryAccess({ action: 'push' })
  async put(
    @Param('name') name: string,
    @Param('reference') reference: string,
    @RequestEventContext() context: EventContext,
    @CurrentPrincipal() principal: Principal,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const content = await readLimitedBody(req, this.config.manifestMaxBytes);
    const createNamespace = this.repositories.namespaceCreator(name, principal.identity, { actor: principal.identity, clientAddr: req.ip });
    const result = await this.repositories.withNamespace(createNamespace, () => this.manifests.put(name, reference, content, req.headers['content-type'], context));
    res.writeHead(201, {
      Location: location(this.config, `/v2/${name}/manifests/${result.digest}`),
      'Docker-Content-Digest': result.digest,
      ...(result.subject ? { 'OCI-Subject': result.subject } : {}),
      'Content-Length': 0,
    });
    res.end();
  }

  @Delete(':reference')
  @RegistryAccess({ action: 'delete' })
  async delete(
    @Param('name') name: string,
    @Param('reference') reference: string,
    @RequestEventContext() context: EventContext,
    @RequestChangeContext() change: ChangeContext,
    @Res() res: Response,
  ): Promise<void> {
    await this.manifests.delete(name, reference, context, change);
    res.writeHead(202, { 'Content-Length': 0 });
    res.end();
  }

  private send(req: Request, res: Response, manifest: StoredManifest, withBody: boolean): void {
    const etag = `"${manifest.digest}"`;
    const headers = {
      'Content-Type': manifest.mediaType,
      'Docker-Content-Digest': manifest.digest,
      ETag: etag,
      'Content-Length': manifest.content.length,
    };
    if (req.headers['if-none-match']?.split(',').some((v) => v.trim() === etag)) {
      res.writeHead(304, { ETag: etag, 'Docker-Content-Digest': manifest.digest });
      res.end();
      return;
    }
    res.writeHead(200, headers);
    res.end(withBody ? manifest.content : undefined);
  }
}
