import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { AuditService, CredentialGenerationStore, PasswordHasher, UserService } from '@berth/auth';
import type { BerthConfig } from '@berth/config';
import { ManifestChanges, openDatabase } from '@berth/database';
import { UsageError } from './usage-error.js';

export const USER_USAGE = `  user create <name> [--admin] [--password-stdin]
                      create a user (with --admin, an administrator)
  user reset-password <name> [--password-stdin]
                      give a user a new password (tokens issued before stop refreshing)

  Without --password-stdin a random password is generated and printed once.`;

/** `user create` and `user reset-password`, through the same UserService as the admin API. */
export async function userCommand(config: BerthConfig, args: string[]): Promise<void> {
  const [action, ...rest] = args;
  if (action !== 'create' && action !== 'reset-password') throw new UsageError(`unknown user command: ${action ?? '(none)'}`);
  const { values, positionals } = parseCommand(rest, action === 'create');
  if (positionals.length !== 1) throw new UsageError(`user ${action} takes one user name`);
  const [username] = positionals;
  const given = values['password-stdin'] ? await passwordFromStdin() : undefined;
  const password = given ?? randomBytes(18).toString('base64url');

  const dataSource = await openDatabase(config);
  try {
    const audit = new AuditService(dataSource);
    const users = new UserService(dataSource, new PasswordHasher(), audit, new CredentialGenerationStore(), new ManifestChanges());
    const ctx = { actor: 'cli' };
    if (action === 'create') {
      const user = await users.create({ username, password, isAdmin: values.admin === true }, ctx);
      console.log(`created ${user.isAdmin ? 'administrator' : 'user'} ${user.username}`);
    } else {
      await users.setPassword(username, password, ctx);
      console.log(`new password set for ${username}`);
    }
    if (!given) console.log(`password: ${password}\n(shown only now)`);
  } finally {
    await dataSource.destroy();
  }
}

function parseCommand(args: string[], create: boolean) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: { 'password-stdin': { type: 'boolean' }, ...(create ? { admin: { type: 'boolean' as const } } : {}) },
    }) as { values: { admin?: boolean; 'password-stdin'?: boolean }; positionals: string[] };
  } catch (err) {
    throw new UsageError(err.message);
  }
}

/** The whole of stdin without its final line break, so `echo secret |` and a file both work. */
async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
