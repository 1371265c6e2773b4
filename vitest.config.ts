import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { tsconfigPaths: true },
  test: {
    globals: true,
    root: './',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // Under CI a failing test is run once more (a submission lands only on a green run);
    // test/support/retried-reporter.ts lists every test that needed it.
    retry: process.env.CI === 'true' ? 1 : 0,
    // Drops databases and kills redis-servers that interrupted runs left behind.
    globalSetup: ['./test/support/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'default', include: ['libs/**/*.spec.ts', 'apps/**/*.spec.ts', 'test/**/*.e2e-spec.ts'] },
      },
      // The shared end-to-end suite a second time, on the s3 driver (a private s3rver per registry).
      {
        extends: true,
        test: { name: 'api-s3', include: ['test/api/**/*.e2e-spec.ts'], env: { TEST_STORAGE_DRIVER: 's3' } },
      },
    ],
  },
});
