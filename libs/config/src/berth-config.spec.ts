import { BerthConfig, ConfigError } from './berth-config.js';

describe('BerthConfig', () => {
  it('applies defaults: port 5000, embedded database, filesystem storage under ./data', () => {
    const config = new BerthConfig({});
    expect(config.port).toBe(5000);
    expect(config.database.url).toBeUndefined();
    expect(config.storage.driver).toBe('filesystem');
    expect(config.storage.root).toMatch(/data\/storage$/);
    expect(config.manifestMaxBytes).toBe(4 * 1024 * 1024);
  });

  it('reads the environment', () => {
    const config = new BerthConfig({
      PORT: '6000',
      DATABASE_URL: 'postgres://u@db:5432/berth',
      STORAGE_DRIVER: 'inmemory',
      PUBLIC_URL: 'https://registry.example.com/',
    });
    expect(config.port).toBe(6000);
    expect(config.database.url).toBe('postgres://u@db:5432/berth');
    expect(config.storage.driver).toBe('inmemory');
    expect(config.publicUrl).toBe('https://registry.example.com');
  });

  it('names every invalid variable in one clear error', () => {
    expect(() => new BerthConfig({ PORT: 'abc', STORAGE_DRIVER: 's4', DATABASE_URL: 'mysql://x' })).toThrow(ConfigError);
    try {
      new BerthConfig({ PORT: 'abc', STORAGE_DRIVER: 's4', DATABASE_URL: 'mysql://x' });
    } catch (err) {
      expect(err.message).toContain('PORT');
      expect(err.message).toContain('STORAGE_DRIVER');
      expect(err.message).toContain('DATABASE_URL');
    }
  });

  it('reads the S3 storage settings, with redirects on by default', () => {
    expect(new BerthConfig({}).storage.s3).toBeUndefined();
    const config = new BerthConfig({
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'registry',
      S3_ENDPOINT: 'http://minio:9000',
      S3_FORCE_PATH_STYLE: 'true',
      S3_PREFIX: '/berth/prod/',
    });
    expect(config.storage.s3).toEqual({
      bucket: 'registry',
      region: 'us-east-1',
      endpoint: 'http://minio:9000',
      publicEndpoint: undefined,
      forcePathStyle: true,
      prefix: 'berth/prod/',
      redirect: true,
      redirectExpirySeconds: 600,
    });
    expect(new BerthConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', STORAGE_REDIRECT: 'false' }).storage.s3).toMatchObject({ redirect: false, prefix: '' });
    expect(() => new BerthConfig({ STORAGE_DRIVER: 's3' })).toThrow(/S3_BUCKET: required when STORAGE_DRIVER=s3/);
    expect(() => new BerthConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_PREFIX: 'a/../b' })).toThrow(/S3_PREFIX/);
    expect(() => new BerthConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_REDIRECT_EXPIRY_SECONDS: '0' })).toThrow(/S3_REDIRECT_EXPIRY_SECONDS/);
  });

  it('reads the deployment settings: read-only mode, TLS files (both or neither), the shutdown timeout', () => {
    const defaults = new BerthConfig({});
    expect(defaults).toMatchObject({ readOnly: false, tls: undefined, shutdownTimeoutSeconds: 30 });
    const config = new BerthConfig({ READ_ONLY: 'true', TLS_CERT: '/etc/berth/cert.pem', TLS_KEY: '/etc/berth/key.pem', SHUTDOWN_TIMEOUT_SECONDS: '5' });
    expect(config).toMatchObject({ readOnly: true, tls: { certFile: '/etc/berth/cert.pem', keyFile: '/etc/berth/key.pem' }, shutdownTimeoutSeconds: 5 });
    expect(() => new BerthConfig({ TLS_CERT: '/etc/berth/cert.pem' })).toThrow(/TLS_KEY: TLS_CERT and TLS_KEY go together/);
    expect(() => new BerthConfig({ READ_ONLY: 'yes' })).toThrow(/READ_ONLY: must be true or false/);
    expect(defaults.autoCreateNamespaces).toBe(false);
    expect(new BerthConfig({ AUTO_CREATE_NAMESPACES: 'true' }).autoCreateNamespaces).toBe(true);
    expect(() => new BerthConfig({ AUTO_CREATE_NAMESPACES: '1' })).toThrow(/AUTO_CREATE_NAMESPACES: must be true or false/);
  });

  it('reads the webhook target settings: private networks allowed, other private targets not, by default', () => {
    expect(new BerthConfig({}).webhooks).toMatchObject({ allowPrivateTargets: false, allowPrivateNetworks: true });
    expect(new BerthConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' }).webhooks).toMatchObject({ allowPrivateNetworks: false });
    expect(() => new BerthConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'no' })).toThrow(/WEBHOOK_ALLOW_PRIVATE_NETWORKS: must be true or false/);
  });

  it('reads the request body limits: idle timeout and pre-authentication deadline, whole seconds of at least 1', () => {
    expect(new BerthConfig({}).body).toEqual({ idleTimeoutSeconds: 60, deadlineSeconds: 10 });
    expect(new BerthConfig({ BODY_IDLE_TIMEOUT_SECONDS: '300', BODY_DEADLINE_SECONDS: '5' }).body).toEqual({ idleTimeoutSeconds: 300, deadlineSeconds: 5 });
    expect(() => new BerthConfig({ BODY_IDLE_TIMEOUT_SECONDS: '0' })).toThrow(/BODY_IDLE_TIMEOUT_SECONDS/);
    expect(() => new BerthConfig({ BODY_DEADLINE_SECONDS: 'soon' })).toThrow(/BODY_DEADLINE_SECONDS/);
  });

  it('reads the garbage collection settings: cron schedules or off', () => {
    expect(new BerthConfig({}).gc).toEqual({
      schedule: '0 3 * * *',
      deleteUntagged: false,
      reviewDelaySeconds: 3600,
      uploadPurgeSchedule: '30 * * * *',
      uploadMaxAgeSeconds: 86400,
    });
    const config = new BerthConfig({ GC_SCHEDULE: 'off', GC_DELETE_UNTAGGED: 'true', GC_REVIEW_DELAY_SECONDS: '0', UPLOAD_PURGE_SCHEDULE: '*/10 * * * * *', UPLOAD_MAX_AGE_SECONDS: '60' });
    expect(config.gc).toEqual({ schedule: null, deleteUntagged: true, reviewDelaySeconds: 0, uploadPurgeSchedule: '*/10 * * * * *', uploadMaxAgeSeconds: 60 });
    expect(() => new BerthConfig({ GC_SCHEDULE: 'nightly' })).toThrow(/GC_SCHEDULE: must be a cron pattern or "off"/);
    expect(() => new BerthConfig({ UPLOAD_PURGE_SCHEDULE: '0 25 * * *' })).toThrow(/UPLOAD_PURGE_SCHEDULE: .*hour "25"/);
    expect(() => new BerthConfig({ UPLOAD_MAX_AGE_SECONDS: '0' })).toThrow(/UPLOAD_MAX_AGE_SECONDS/);
    expect(new BerthConfig({}).uploads).toEqual({ maxSessionsPerAccount: 100, maxSessionsPerNamespace: 1000 });
    expect(new BerthConfig({ UPLOAD_MAX_SESSIONS_PER_ACCOUNT: '5', UPLOAD_MAX_SESSIONS_PER_NAMESPACE: '50' }).uploads).toEqual({
      maxSessionsPerAccount: 5,
      maxSessionsPerNamespace: 50,
    });
    expect(() => new BerthConfig({ UPLOAD_MAX_SESSIONS_PER_ACCOUNT: '0' })).toThrow(/UPLOAD_MAX_SESSIONS_PER_ACCOUNT/);
    expect(() => new BerthConfig({ UPLOAD_MAX_SESSIONS_PER_NAMESPACE: 'many' })).toThrow(/UPLOAD_MAX_SESSIONS_PER_NAMESPACE/);
  });

  it('reads TRUST_PROXY: off by default, a hop count, or addresses, subnets and presets', () => {
    expect(new BerthConfig({}).trustProxy).toBe(false);
    expect(new BerthConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(new BerthConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(new BerthConfig({ TRUST_PROXY: '10.0.0.0/8, uniquelocal,::1' }).trustProxy).toEqual(['10.0.0.0/8', 'uniquelocal', '::1']);
    // Trusting every peer would let any client choose its address.
    expect(() => new BerthConfig({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY: must be a number of proxy hops/);
    expect(() => new BerthConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY/);
  });
});
