/**
 * Lists, at the end of a run, the tests that failed at first and were run again (CI
 * retries each failing test once: see vitest.config.ts), so that a test that fails now
 * and then is seen and fixed rather than hidden by its retry.
 */
import type { Reporter, TestCase } from 'vitest/node';

export default class RetriedTestsReporter implements Reporter {
  private readonly retried: string[] = [];

  onTestCaseResult(test: TestCase): void {
    const retries = test.diagnostic()?.retryCount ?? 0;
    if (retries === 0) return;
    const outcome = test.result().state === 'passed' ? 'passed on its retry' : 'failed on its retry too';
    this.retried.push(`${test.module.relativeModuleId} > ${test.fullName}: ${outcome}`);
  }

  onTestRunEnd(): void {
    if (this.retried.length === 0) return;
    console.log(`\nTests that failed at first and were run again (${this.retried.length}):`);
    for (const line of this.retried) console.log(`  ${line}`);
  }
}
