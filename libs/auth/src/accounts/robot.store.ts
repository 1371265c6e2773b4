import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { RobotCredentials } from './robot.service.js';

/** SQL of the robots aggregate. */
@Injectable()
export class RobotStore {
  /** The robot behind a login name's two parts, with its secret hash and the generations its tokens are issued under. */
  async findForLogin(manager: EntityManager, namespace: string, name: string): Promise<RobotCredentials | undefined> {
    const rows: (RobotCredentials & { generation: string; credentialGeneration: string })[] = await manager.query(
      `SELECT r.id, n.name AS namespace, r.name, r.secret_hash AS "secretHash", r.actions, r.repositories,
              r.expires_at AS "expiresAt", r.revoked_at AS "revokedAt",
              COALESCE(g.generation, 0) AS generation, COALESCE(g.credential_generation, 0) AS "credentialGeneration"
         FROM robots r JOIN namespaces n ON n.id = r.namespace_id
         LEFT JOIN credential_generations g ON g.subject = 'robot:' || r.id
        WHERE n.name = $1 AND r.name = $2`,
      [namespace, name],
    );
    return rows[0] && { ...rows[0], generation: Number(rows[0].generation), credentialGeneration: Number(rows[0].credentialGeneration) };
  }
}
