import { CronPattern } from './cron-pattern.js';

describe('CronPattern', () => {
  it('matches minutes, hours and weekdays in UTC', () => {
    const nightly = CronPattern.parse('0 3 * * *');
    expect(nightly.matches(new Date('2026-11-26T03:00:00Z'))).toBe(true);
    expect(nightly.matches(new Date('2026-11-26T03:00:01Z'))).toBe(false);
    expect(nightly.matches(new Date('2026-11-26T04:00:00Z'))).toBe(false);
    const weekdays = CronPattern.parse('30 */6 * * 1-5');
    expect(weekdays.matches(new Date('2026-11-26T12:30:00Z'))).toBe(true); // a Thursday
    expect(weekdays.matches(new Date('2026-11-29T12:30:00Z'))).toBe(false); // a Sunday
    expect(CronPattern.parse('0 0 * * 7').matches(new Date('2026-11-29T00:00:00Z'))).toBe(true);
  });

  it('takes an optional seconds field first', () => {
    const everyTwo = CronPattern.parse('*/2 * * * * *');
    expect(everyTwo.matches(new Date('2026-11-26T10:11:04Z'))).toBe(true);
    expect(everyTwo.matches(new Date('2026-11-26T10:11:05Z'))).toBe(false);
  });

  it('refuses malformed patterns, naming the field', () => {
    expect(() => CronPattern.parse('nightly')).toThrow(/5 fields/);
    expect(() => CronPattern.parse('61 * * * *')).toThrow(/minute "61"/);
    expect(() => CronPattern.parse('0 3 * * mon')).toThrow(/day of week "mon"/);
    expect(() => CronPattern.parse('5-1 * * * *')).toThrow(/minute/);
  });
});
