import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** What a password check needs about a user, with the generations its tokens are issued under. */
export interface UserCredentials {
  id: string;
  passwordHash: string;
  isAdmin: boolean;
  disabled: boolean;
  generation: number;
  credentialGeneration: number;
}

/** SQL of the users aggregate. */
@Injectable()
export class UserStore {
  /** One query, so the generations and the credentials come from one snapshot. */
  async findCredentials(manager: EntityManager, username: string): Promise<UserCredentials | undefined> {
    const rows: (UserCredentials & { generation: string; credentialGeneration: string })[] = await manager.query(
      `SELECT u.id, u.password_hash AS "passwordHash", u.is_admin AS "isAdmin", u.disabled,
              COALESCE(g.generation, 0) AS generation, COALESCE(g.credential_generation, 0) AS "credentialGeneration"
         FROM users u LEFT JOIN credential_generations g ON g.subject = 'user:' || u.id
        WHERE u.username = $1`,
      [username],
    );
    return rows[0] && { ...rows[0], generation: Number(rows[0].generation), credentialGeneration: Number(rows[0].credentialGeneration) };
  }
}
