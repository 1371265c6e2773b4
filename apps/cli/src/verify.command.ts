import { NestFactory } from '@nestjs/core';
import { parseArgs } from 'node:util';
import type { BerthConfig } from '@berth/config';
import { type VerifyFinding, type VerifyProgress, type VerifyReport, VerifyRunService, type VerifyStart, onlyTrailingBytes } from '@berth/gc';
import { MaintenanceModule } from './maintenance.module.js';
import { UsageError } from './usage-error.js';

export const VERIFY_USAGE = `  verify [--repair] [--restart]
                      check every blob file against its digest and size, and look for files
                      with no blob row; an interrupted run continues where it stopped
                      (--restart: from the beginning); --repair deletes orphan and bad files
                      (a bad blob then reads as missing until it is pushed again) and cuts
                      files holding their blob then more bytes to length`;

/** Progress lines at most this often, besides one at the end of each phase. */
const PROGRESS_EVERY_MS = 10_000;
const SHOWN_FINDINGS = 100;

/** `verify`: one run through VerifyRunService, to its end; exit 1 when problems remain or the run stopped. */
export async function verifyCommand(config: BerthConfig, args: string[]): Promise<void> {
  const values = parseOptions(args);
  const options = { repair: values.repair === true, restart: values.restart === true };
  const app = await NestFactory.createApplicationContext(MaintenanceModule.forRoot(config), { logger: ['fatal', 'error'] });
  const abort = new AbortController();
  // The first signal stops the run at its next step, with its cursor saved; a second one ends the process.
  const stop = (signal: NodeJS.Signals) => abort.abort(new Error(`interrupted by ${signal}`));
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    const progress = new ProgressPrinter();
    const report = await app.get(VerifyRunService).run(options, abort.signal, (p) => progress.print(p), (start) => progress.begin(start));
    printReport(report);
    if (report.run.status !== 'finished' || report.remaining > 0) process.exitCode = 1;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    await app.close();
  }
}

class ProgressPrinter {
  private readonly startedAt = Date.now();
  private printedAt = Date.now();
  private bytesAtStart = 0;

  begin({ run, resumed, abandoned }: VerifyStart): void {
    if (abandoned) console.log(`verify run ${abandoned} (interrupted) given up: starting afresh`);
    this.bytesAtStart = run.bytesChecked;
    if (!resumed) console.log(`verify run ${run.id} started${run.repair ? ' (repair)' : ''}`);
    else console.log(`verify run ${run.id} resumed in phase ${run.phase} after ${run.cursor ?? 'the start'} (${run.blobsChecked} blobs, ${run.filesChecked} files checked before)`);
  }

  print({ run, phase, phaseDone }: VerifyProgress): void {
    if (!phaseDone && Date.now() - this.printedAt < PROGRESS_EVERY_MS) return;
    this.printedAt = Date.now();
    const seconds = Math.max((Date.now() - this.startedAt) / 1000, 0.001);
    const rate = (run.bytesChecked - this.bytesAtStart) / seconds;
    const what = phase === 'blobs' ? `${run.blobsChecked} blobs checked (${run.blobsOk} ok), ${bytes(run.bytesChecked)}, ${bytes(rate)}/s` : `${run.filesChecked} files checked`;
    console.log(`  ${phase}${phaseDone ? ' done' : ''}: ${what}`);
  }
}

function printReport({ run, counts, findings, remaining }: VerifyReport): void {
  if (run.status !== 'finished') {
    console.error(`verify run ${run.id} stopped: ${run.error}\n  run verify again to continue after ${run.cursor ?? 'the start'} (phase ${run.phase})`);
  } else {
    console.log(`verify run ${run.id} finished: ${run.blobsChecked} blobs checked, ${run.blobsOk} ok, ${bytes(run.bytesChecked)}; ${run.filesChecked} files checked`);
  }
  for (const { kind, outcome, count } of counts) console.log(`  ${kind}: ${count} ${outcome}`);
  for (const finding of findings) console.log(`  ${describe(finding)}`);
  const total = counts.reduce((sum, c) => sum + c.count, 0);
  if (total > findings.length) console.log(`  … and ${total - findings.length} more (table verify_findings, run_id ${run.id})`);
  console.log(remaining === 0 ? 'no problems remain' : remaining === 1 ? '1 problem remains' : `${remaining} problems remain`);
}

function describe(f: VerifyFinding): string {
  if (onlyTrailingBytes(f)) {
    return `${f.kind} ${f.digest}: file has ${f.actualSize} bytes, ${f.expectedSize} recorded, the first ${f.expectedSize} being the blob${f.outcome === 'repaired' ? ': cut to length' : ''}`;
  }
  const what =
    f.kind === 'missing'
      ? `recorded (${f.expectedSize} bytes) but no file in storage`
      : f.kind === 'size_mismatch'
        ? `file has ${f.actualSize} bytes, ${f.expectedSize} recorded`
        : f.kind === 'corrupt'
          ? `file hashes to ${f.actualDigest}`
          : `file (${f.actualSize} bytes) with no blob row`;
  const done =
    f.outcome === 'found'
      ? ''
      : f.kind === 'orphan'
        ? f.outcome === 'repaired'
          ? ': deleted'
          : ': kept'
        : f.outcome === 'repaired'
          ? ': bad file deleted, push the blob again'
          : ': cannot be repaired here, push the blob again';
  return `${f.kind} ${f.digest}: ${what}${done}`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

function parseOptions(args: string[]): { repair?: boolean; restart?: boolean } {
  try {
    return parseArgs({ args, options: { repair: { type: 'boolean' }, restart: { type: 'boolean' } }, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err.message);
  }
}
