import { Controller, Delete, Get, Head, HttpCode, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { type ChangeContext, RegistryAccess } from '@berth/auth';
import { parseRange } from '../http/request-body.js';
import type { EventContext } from '@berth/notifications';
import { RequestChangeContext } from '../http/change-context.js';
import { RequestEventContext } from '../http/event-context.js';
import { sendBlob } from '../http/send-blob.js';
import { BlobService } from '../services/blob.service.js';
import { RegistryEvents } from '../services/registry-events.js';

@Controller('v2/:name/blobs')
export class BlobController {
  constructor(
    private readonly blobs: BlobService,
    private readonly events: RegistryEvents,
  ) {}

  @Head(':digest')
  @RegistryAccess({ action: 'pull' })
  async head(@Param('name') name: string, @Param('digest') digest: string, @Res() res: Response): Promise<void> {
    // Clients HEAD a blob to decide whether to upload it before their manifest PUT.
    const blob = await this.blobs.statForPush(name, digest);
    // Never redirected: the size is known here, and a redirect would only add a round trip.
    res.writeHead(200, { ...blobHeaders(digest), 'Content-Length': blob.size });
    res.end();
  }

  @Get(':digest')
  @RegistryAccess({ action: 'pull' })
  async get(
    @Param('name') name: string,
    @Param('digest') digest: string,
    @RequestEventContext() context: EventContext,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const blob = await this.blobs.stat(name, digest);
    const redirect = blob.upstream ? null : await this.blobs.redirectUrl(digest, 'GET');
    if (redirect) {
      this.events.pulled(context, () => this.events.blobTarget(context, name, digest, blob.size));
      return this.redirect(res, redirect, digest);
    }
    const range = parseRange(req.headers.range, blob.size);
    const start = range?.start ?? 0;
    const length = range ? range.end - range.start + 1 : blob.size;
    const body = blob.upstream ? blob.upstream.open(start, length) : await this.blobs.open(digest, start, length);
    const headers = {
      ...blobHeaders(digest),
      'Content-Length': length,
      ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${blob.size}` } : {}),
    };
    this.events.pulled(context, () => this.events.blobTarget(context, name, digest, blob.size));
    await sendBlob(res, range ? 206 : 200, headers, body, this.blobs.sendIdleTimeoutMs);
  }

  @Delete(':digest')
  @RegistryAccess({ action: 'delete' })
  @HttpCode(202)
  async delete(
    @Param('name') name: string,
    @Param('digest') digest: string,
    @RequestEventContext() context: EventContext,
    @RequestChangeContext() change: ChangeContext,
    @Res() res: Response,
  ): Promise<void> {
    await this.blobs.delete(name, digest, context, change);
    res.writeHead(202, { 'Docker-Content-Digest': digest, 'Content-Length': 0 });
    res.end();
  }

  /** To a short-lived URL in the object store; a 307 keeps the method and the client's Range header. */
  private redirect(res: Response, url: string, digest: string): void {
    res.writeHead(307, { Location: url, 'Docker-Content-Digest': digest, 'Content-Length': 0 });
    res.end();
  }
}

function blobHeaders(digest: string): Record<string, string> {
  return {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    // Content-addressed: the bytes behind a digest never change.
    'Cache-Control': 'max-age=31536000',
  };
}
