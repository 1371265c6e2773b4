/**
 * A cron pattern: `minute hour day-of-month month day-of-week`, optionally preceded by
 * a seconds field, with `*`, lists, ranges and `/` steps (day-of-week 0–7, Sunday is 0
 * or 7). The grammar BullMQ's job schedulers accept, parsed here so a bad pattern stops
 * the process at start-up and so a process without Redis can follow the same schedule.
 * Times are matched in UTC.
 */
export class CronPattern {
  private constructor(
    readonly source: string,
    private readonly fields: Set<number>[],
  ) {}

  /** Throws an Error naming the offending field. */
  static parse(source: string): CronPattern {
    const parts = source.trim().split(/\s+/);
    if (parts.length !== 5 && parts.length !== 6) throw new Error('must have 5 fields (minute hour day month weekday) or 6 (with seconds first)');
    const withSeconds = parts.length === 6 ? parts : ['0', ...parts];
    return new CronPattern(
      source.trim(),
      withSeconds.map((part, i) => parseField(part, FIELDS[i])),
    );
  }

  /** Whether the pattern fires during the given second (UTC). */
  matches(at: Date): boolean {
    const [second, minute, hour, day, month, weekday] = this.fields;
    return (
      second.has(at.getUTCSeconds()) &&
      minute.has(at.getUTCMinutes()) &&
      hour.has(at.getUTCHours()) &&
      day.has(at.getUTCDate()) &&
      month.has(at.getUTCMonth() + 1) &&
      (weekday.has(at.getUTCDay()) || (at.getUTCDay() === 0 && weekday.has(7)))
    );
  }
}

interface FieldRange {
  name: string;
  min: number;
  max: number;
}

const FIELDS: FieldRange[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
];

function parseField(text: string, field: FieldRange): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (!match) throw new Error(`${field.name} "${item}" is not a number, range, list, * or step`);
    const start = match[1] === '*' ? field.min : Number(match[2]);
    const end = match[1] === '*' ? field.max : match[3] !== undefined ? Number(match[3]) : match[4] !== undefined ? field.max : start;
    const step = match[4] !== undefined ? Number(match[4]) : 1;
    if (start < field.min || end > field.max || start > end || step < 1) {
      throw new Error(`${field.name} "${item}" is outside ${field.min}-${field.max}`);
    }
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return values;
}
