import { NestFactory } from '@nestjs/core';
import { parseArgs } from 'node:util';
import type { BerthConfig } from '@berth/config';
import { GcRunService, UploadPurger } from '@berth/gc';
import { MaintenanceModule } from './maintenance.module.js';
import { UsageError } from './usage-error.js';

export const MAINTENANCE_USAGE = `  gc [--dry-run] [--delete-untagged]
                      garbage collection now: blobs no manifest references (with
                      --delete-untagged, manifests no tag holds too); --dry-run reports only
  purge-uploads       delete upload sessions idle longer than UPLOAD_MAX_AGE_SECONDS

  With the embedded database, stop the registry first (or use POST /api/v1/system/gc).`;

/** `gc`: one run through the same GcRunService as the admin API, waited for; exit 1 when it fails. */
export async function gcCommand(config: BerthConfig, args: string[]): Promise<void> {
  const values = parseOptions(args, { 'dry-run': { type: 'boolean' }, 'delete-untagged': { type: 'boolean' } });
  const options = { dryRun: values['dry-run'] === true, deleteUntagged: values['delete-untagged'] === true };
  const app = await NestFactory.createApplicationContext(MaintenanceModule.forRoot(config), { logger: ['fatal', 'error', 'warn'] });
  try {
    const { done } = await app.get(GcRunService).start('cli', options);
    const run = await done;
    const verb = options.dryRun ? 'would free' : 'freed';
    console.log(`garbage collection ${run.id} ${run.status}${options.dryRun ? ' (dry run)' : ''}`);
    console.log(`  ${verb} ${run.bytesFreed} bytes`);
    console.log(`  blobs: ${run.blobsDeleted}, manifests: ${run.manifestsDeleted}, links: ${run.linksDeleted}, orphan files: ${run.orphanFilesDeleted}`);
    for (const digest of run.sample?.blobs ?? []) console.log(`  blob ${digest}`);
    for (const digest of run.sample?.manifests ?? []) console.log(`  manifest ${digest}`);
    if (run.status === 'failed') {
      console.error(`  error: ${run.error}`);
      process.exitCode = 1;
    }
  } finally {
    await app.close();
  }
}

export async function purgeUploadsCommand(config: BerthConfig, args: string[]): Promise<void> {
  parseOptions(args, {});
  const app = await NestFactory.createApplicationContext(MaintenanceModule.forRoot(config), { logger: ['fatal', 'error', 'warn'] });
  try {
    const result = await app.get(UploadPurger).purge();
    console.log(`purged ${result.sessionsDeleted} stale upload sessions and ${result.orphansDeleted} orphan staging files`);
  } finally {
    await app.close();
  }
}

function parseOptions<T extends Record<string, { type: 'boolean' }>>(args: string[], options: T): { [K in keyof T]?: boolean } {
  try {
    return parseArgs({ args, options, allowPositionals: false }).values as { [K in keyof T]?: boolean };
  } catch (err) {
    throw new UsageError(err.message);
  }
}
