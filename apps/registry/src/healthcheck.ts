import dotenv from 'dotenv';
import http from 'node:http';
import https from 'node:https';
import { BerthConfig } from '@berth/config';

/*
 * The container's HEALTHCHECK: exits 0 when this instance's /health/live answers 200,
 * over HTTPS when TLS_CERT is set. The certificate names the public host, not the
 * loopback address probed here, hence no verification.
 */
// The same settings as the registry it probes, `.env` included.
dotenv.config({ quiet: true });
const config = new BerthConfig(process.env);
const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
const client = config.tls ? https : http;
const req = client.get({ host, port: config.port, path: '/health/live', timeout: 3000, rejectUnauthorized: false }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
  console.error(`health check failed: ${err.message}`);
  process.exit(1);
});
