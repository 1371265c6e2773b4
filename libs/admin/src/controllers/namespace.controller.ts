import { Body, Delete, ForbiddenException, Get, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { ChangesContent } from '@berth/distribution';
import { ProxyNamespaceService } from '@berth/proxy';
import type { z } from 'zod';
import { type ChangeContext, NamespaceService, type NamespaceView, type UserIdentity } from '../auth.js';
import { AdminOnly, AnyUser, NamespaceRole, NamespaceVisible } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Change } from '../http/change.decorator.js';
import { CurrentUser } from '../http/current-user.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { forceQuery, forced } from '../schemas/common.schemas.js';
import {
  createNamespaceBody,
  listNamespacesQuery,
  namespacePage,
  namespaceUsage,
  namespaceView,
  setQuotaBody,
  updateNamespaceBody,
} from '../schemas/namespace.schemas.js';
import { NamespaceUsageService } from '../services/namespace-usage.service.js';

@ApiController('namespaces', 'namespaces')
export class NamespaceController {
  constructor(
    private readonly namespaces: NamespaceService,
    private readonly usage: NamespaceUsageService,
    private readonly proxies: ProxyNamespaceService,
  ) {}

  @Post()
  @AdminOnly()
  @Operation({ id: 'createNamespace', summary: 'Create an organisation, or (kind proxy) a pull-through cache of an upstream registry', status: 201, answer: namespaceView, errors: [409] })
  create(@Body({ schema: createNamespaceBody }) body: z.output<typeof createNamespaceBody>, @Change() ctx: ChangeContext) {
    const { kind, upstream, ...namespace } = body;
    return kind === 'proxy' && upstream ? this.proxies.create({ ...namespace, upstream }, ctx) : this.namespaces.createOrganization(namespace, ctx);
  }

  @Get()
  @AnyUser()
  @Operation({ id: 'listNamespaces', summary: 'List namespaces: all for administrators, else yours and the public ones', status: 200, answer: namespacePage })
  list(@Query({ schema: listNamespacesQuery }) query: z.output<typeof listNamespacesQuery>, @CurrentUser() user: UserIdentity) {
    return this.namespaces.list(user, query);
  }

  @Get(':ns')
  @NamespaceVisible()
  @Operation({ id: 'getNamespace', summary: 'Get a namespace (members, or anyone when public)', status: 200, answer: namespaceView })
  get(@Param('ns') ns: string, @CurrentUser() user: UserIdentity) {
    return this.withUpstream(this.namespaces.get(user, ns));
  }

  @Patch(':ns')
  @NamespaceRole('owner')
  @Operation({ id: 'updateNamespace', summary: "Change a namespace's visibility (owners), or a proxy namespace's upstream (administrators)", status: 200, answer: namespaceView, errors: [403, 409] })
  async update(
    @Param('ns') ns: string,
    @Body({ schema: updateNamespaceBody }) body: z.output<typeof updateNamespaceBody>,
    @Change() ctx: ChangeContext,
    @CurrentUser() user: UserIdentity,
  ) {
    // The upstream decides where Berth connects and with which credentials: administrators only.
    if (body.upstream && !user.isAdmin) throw new ForbiddenException('only a system administrator changes an upstream');
    if (body.upstream) await this.proxies.update(ns, body.upstream, ctx);
    if (body.visibility) await this.namespaces.setVisibility(ns, body.visibility, ctx);
    return this.withUpstream(this.namespaces.get(user, ns));
  }

  /** A proxy namespace's answer carries its upstream (never its secrets). */
  private async withUpstream(pending: Promise<NamespaceView>) {
    const view = await pending;
    if (view.kind !== 'proxy') return view;
    return { ...view, upstream: (await this.proxies.view(view.name)) ?? undefined };
  }

  @Get(':ns/usage')
  @NamespaceRole('reader')
  @Operation({ id: 'getNamespaceUsage', summary: "A namespace's deduplicated storage usage and its quota (members)", status: 200, answer: namespaceUsage })
  getUsage(@Param('ns') ns: string) {
    return this.usage.get(ns);
  }

  @Put(':ns/quota')
  @AdminOnly()
  @Operation({ id: 'setNamespaceQuota', summary: "Set (or, with null, remove) a namespace's byte quota (administrators)", status: 200, answer: namespaceUsage })
  setQuota(@Param('ns') ns: string, @Body({ schema: setQuotaBody }) body: z.output<typeof setQuotaBody>, @Change() ctx: ChangeContext) {
    return this.usage.setQuota(ns, body.quotaBytes, ctx);
  }

  @Delete(':ns')
  @AdminOnly()
  @ChangesContent(forced)
  @Operation({ id: 'deleteNamespace', summary: 'Delete an organisation (force=true: with its repositories)', status: 204, errors: [405, 409] })
  async delete(@Param('ns') ns: string, @Query({ schema: forceQuery }) query: z.output<typeof forceQuery>, @Change() ctx: ChangeContext): Promise<void> {
    await this.namespaces.delete(ns, query, ctx);
  }
}
