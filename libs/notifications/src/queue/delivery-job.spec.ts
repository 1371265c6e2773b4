import { retryDelayMs } from './delivery-job.js';

describe('retryDelayMs', () => {
  it('doubles from the base, jittered down by at most half', () => {
    for (const [attempt, ceiling] of [
      [1, 1000],
      [2, 2000],
      [5, 16000],
    ]) {
      expect(retryDelayMs(attempt, 1000, 3_600_000, () => 0)).toBe(ceiling / 2);
      expect(retryDelayMs(attempt, 1000, 3_600_000, () => 0.999999)).toBe(ceiling);
      const random = retryDelayMs(attempt, 1000, 3_600_000);
      expect(random).toBeGreaterThanOrEqual(ceiling / 2);
      expect(random).toBeLessThanOrEqual(ceiling);
    }
  });

  it('never waits longer than the cap', () => {
    expect(retryDelayMs(40, 1000, 3_600_000, () => 0)).toBe(1_800_000);
    expect(retryDelayMs(40, 1000, 3_600_000)).toBeLessThanOrEqual(3_600_000);
  });
});
