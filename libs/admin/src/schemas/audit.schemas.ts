import { z } from 'zod';
import { pageQuery } from './common.schemas.js';

export const auditQuery = pageQuery.extend({
  actor: z.string().max(200).optional(),
  /** An action (`robot.rotate`) or a family of them (`robot`). */
  action: z.string().max(64).optional(),
});
