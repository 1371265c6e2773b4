import { Logger } from '@nestjs/common';
import { type KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { type BerthConfig, readOrCreateKeyFile } from '@berth/config';

/**
 * The ES256 key that signs tokens. From TOKEN_SIGNING_KEY (replicas share it through
 * configuration), else from a key file under DATA_DIR, generated on first start.
 * The `kid` is the key's RFC 7638 JWK thumbprint.
 */
export class SigningKey {
  private constructor(
    readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
    readonly kid: string,
  ) {}

  get publicKeyPem(): string {
    return this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  static async load(config: BerthConfig): Promise<SigningKey> {
    const pem =
      config.token.signingKey ??
      (await readOrCreateKeyFile(config.token.keyFile, generatePem, () => {
        // With an external database there may be other replicas: each would sign with its own key.
        if (config.database.url) {
          new Logger('Auth').warn(
            `TOKEN_SIGNING_KEY is unset: generated a new token signing key in ${config.token.keyFile}. ` +
              'Every registry replica must sign with the same key: give them all the same TOKEN_SIGNING_KEY (or TOKEN_SIGNING_KEY_FILE).',
          );
        }
      }));
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(pem);
    } catch {
      throw new Error('TOKEN_SIGNING_KEY is not a PEM private key');
    }
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('the token signing key must be an EC P-256 key (ES256)');
    }
    const publicKey = createPublicKey(privateKey);
    const jwk = publicKey.export({ format: 'jwk' });
    const thumbprint = createHash('sha256')
      .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
      .digest('base64url');
    return new SigningKey(privateKey, publicKey, thumbprint);
  }
}

function generatePem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}
