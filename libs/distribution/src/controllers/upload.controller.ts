import { Controller, Delete, Get, Param, Patch, Post, Put, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AccessService, CurrentPrincipal, type Identity, type Principal, RegistryAccess } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import type { EventContext } from '@berth/notifications';
import { RequestEventContext } from '../http/event-context.js';
import { parseContentRange } from '../http/request-body.js';
import { BlobService } from '../services/blob.service.js';
import { RepositoryService } from '../services/repository.service.js';
import { UploadService, type UploadState } from '../services/upload.service.js';
import { location } from './location.js';

@Controller('v2/:name/blobs/uploads')
@RegistryAccess({ action: 'push' })
export class UploadController {
  constructor(
    private readonly uploads: UploadService,
    private readonly blobs: BlobService,
    private readonly config: BerthConfig,
    private readonly access: AccessService,
    private readonly repositories: RepositoryService,
  ) {}

  /** Starts a session; or mounts from another repository; or, with `digest` and a body, uploads in one request. */
  @Post()
  async start(
    @Param('name') name: string,
    @Query('digest') digest: string | undefined,
    @Query('mount') mount: string | undefined,
    @Query('from') from: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @RequestEventContext() context: EventContext,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const createNamespace = this.repositories.namespaceCreator(name, principal.identity, { actor: principal.identity, clientAddr: req.ip });
    // Mounting reads the source: without pull on it, fall back to a plain upload.
    if (
      mount &&
      from &&
      (await this.access.mayPull(principal, from)) &&
      (await this.repositories.withNamespace(createNamespace, () => this.blobs.mount(name, mount, from, context)))
    ) {
      req.resume();
      return this.created(res, name, mount);
    }
    // With a body, `?digest=` is a whole upload; without one, clients expect a session.
    if (digest !== undefined && !mount && hasBody(req)) {
      return this.created(res, name, await this.uploads.uploadWhole(name, digest, req, context, contentLength(req), createNamespace));
    }
    req.resume();
    this.accepted(res, await this.uploads.start(name, accountOf(principal.identity), createNamespace));
  }

  @Get(':uuid')
  async status(@Param('name') name: string, @Param('uuid') uuid: string, @Res() res: Response): Promise<void> {
    const upload = await this.uploads.get(name, uuid);
    res.writeHead(204, this.sessionHeaders(upload));
    res.end();
  }

  @Patch(':uuid')
  async append(@Param('name') name: string, @Param('uuid') uuid: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const range = parseContentRange(req.headers['content-range']);
    const upload = await this.uploads.append(name, uuid, { body: req, range, length: contentLength(req) });
    this.accepted(res, upload);
  }

  @Put(':uuid')
  async complete(
    @Param('name') name: string,
    @Param('uuid') uuid: string,
    @Query('digest') digest: string | undefined,
    @RequestEventContext() context: EventContext,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const lastChunk = hasBody(req) ? { body: req, range: parseContentRange(req.headers['content-range']), length: contentLength(req) } : undefined;
    if (!lastChunk) req.resume();
    const stored = await this.uploads.complete(name, uuid, digest, context, lastChunk);
    this.created(res, name, stored);
  }

  @Delete(':uuid')
  async cancel(@Param('name') name: string, @Param('uuid') uuid: string, @Res() res: Response): Promise<void> {
    await this.uploads.cancel(name, uuid);
    res.writeHead(204, { 'Content-Length': 0 });
    res.end();
  }

  private accepted(res: Response, upload: UploadState): void {
    res.writeHead(202, this.sessionHeaders(upload));
    res.end();
  }

  private created(res: Response, name: string, digest: string): void {
    res.writeHead(201, {
      Location: location(this.config, `/v2/${name}/blobs/${digest}`),
      'Docker-Content-Digest': digest,
      'Content-Length': 0,
    });
    res.end();
  }

  private sessionHeaders(upload: UploadState): Record<string, string | number> {
    return {
      Location: location(this.config, `/v2/${upload.name}/blobs/uploads/${upload.id}`),
      'Docker-Upload-UUID': upload.id,
      // Inclusive range of bytes received, without `bytes=`: what docker and containerd parse.
      Range: `0-${Math.max(upload.size - 1, 0)}`,
      'Content-Length': 0,
    };
  }
}

/** The announced body length, when there is one (a chunked body has none). */
function contentLength(req: Request): number | undefined {
  const header = req.headers['content-length'];
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
}

/** Whom upload sessions are counted against: an identity's kind and id (a name may change). */
function accountOf(identity: Identity): string {
  return identity.kind === 'anonymous' ? 'anonymous' : `${identity.kind}:${identity.id}`;
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
