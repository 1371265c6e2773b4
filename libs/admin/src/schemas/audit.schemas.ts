import { z } from 'zod';
import { pageOf, pageQuery, timestamp } from './common.schemas.js';

export const auditQuery = pageQuery.extend({
  actor: z.string().max(200).optional(),
  /** An action (`robot.rotate`) or a family of them (`robot`). */
  action: z.string().max(64).optional(),
});

export const auditEntry = z
  .object({
    id: z.string(),
    at: timestamp,
    actor: z.string(),
    action: z.string().describe('Such as robot.rotate'),
    target: z.string().describe('Such as robot:<namespace>+<name>'),
    detail: z.record(z.string(), z.unknown()).nullable(),
    clientAddr: z.string().nullable(),
  })
  .meta({ id: 'AuditEntry' });

export const auditPage = pageOf(auditEntry, 'AuditPage');
