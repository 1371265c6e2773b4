import { Logger } from '@nestjs/common';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type BerthConfig, readOrCreateKeyFile } from '@berth/config';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM for webhook secrets and custom headers at rest. A token is
 * base64url(iv ‖ tag ‖ ciphertext): a fresh random IV per encryption, and the tag
 * makes a tampered or foreign token fail to decrypt instead of yielding garbage.
 * The key comes from SECRETS_KEY (replicas share it through configuration), else
 * from a key file under DATA_DIR, generated on first start.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static async load(config: BerthConfig): Promise<SecretBox> {
    const encoded =
      config.secrets.key ??
      (await readOrCreateKeyFile(
        config.secrets.keyFile,
        () => `${randomBytes(KEY_BYTES).toString('base64')}\n`,
        () => {
          // With an external database there may be other replicas and workers: each would have its own key.
          if (config.database.url) {
            new Logger('Notifications').warn(
              `SECRETS_KEY is unset: generated a new secrets key in ${config.secrets.keyFile}. ` +
                'Every registry replica and worker must use the same key: give them all the same SECRETS_KEY (or SECRETS_KEY_FILE).',
            );
          }
        },
      ));
    return SecretBox.fromBase64(encoded, config.secrets.key ? 'SECRETS_KEY' : config.secrets.keyFile);
  }

  /** `origin` names where the key came from, for the error message. */
  static fromBase64(encoded: string, origin = 'the secrets key'): SecretBox {
    const key = Buffer.from(encoded.trim(), 'base64');
    if (key.length !== KEY_BYTES) {
      throw new Error(`${origin} must be ${KEY_BYTES} random bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
    }
    return new SecretBox(key);
  }

  encrypt(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
  }

  /** Throws when the token was not made with this key or was altered. */
  decrypt(token: string): string {
    const raw = Buffer.from(token, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('cannot decrypt a stored secret: it was sealed with another key (was SECRETS_KEY or the key file changed?)');
    }
  }
}
