import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { BerthConfig } from '@berth/config';
import { ConfigError } from '@berth/config';

/**
 * The certificate and key for serving HTTPS, read and checked at start-up so that a
 * wrong path, a file that is not PEM or a key that does not match the certificate
 * stops the process with a message naming the variable.
 */
export function readTlsOptions(tls: NonNullable<BerthConfig['tls']>): { cert: Buffer; key: Buffer } {
  const cert = readPem('TLS_CERT', tls.certFile);
  const key = readPem('TLS_KEY', tls.keyFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError([`TLS_CERT: ${tls.certFile} is not a PEM certificate (${err.message})`]);
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) {
      throw new ConfigError([`TLS_KEY: ${tls.keyFile} is not the private key of the certificate in ${tls.certFile}`]);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`TLS_KEY: ${tls.keyFile} is not a PEM private key (${err.message})`]);
  }
  return { cert, key };
}

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError([`${variable}: cannot read ${path} (${err.code ?? err.message})`]);
  }
}
