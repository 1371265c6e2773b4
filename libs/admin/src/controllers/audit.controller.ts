import { Get, Query } from '@nestjs/common';
import type { z } from 'zod';
import { AdminOnly } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { auditPage, auditQuery } from '../schemas/audit.schemas.js';
import { AuditLogService } from '../services/audit-log.service.js';

@ApiController('audit', 'audit')
export class AuditController {
  constructor(private readonly auditLog: AuditLogService) {}

  @Get()
  @AdminOnly()
  @Operation({ id: 'listAuditEntries', summary: 'Read the audit log, newest first (action: exact, or a family such as "robot")', status: 200, answer: auditPage })
  list(@Query({ schema: auditQuery }) query: z.output<typeof auditQuery>) {
    return this.auditLog.list(query);
  }
}
