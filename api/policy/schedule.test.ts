import { describe, expect, it } from 'vitest';
import { isDue, nextRun, ScheduleError, validateSchedule } from './schedule.ts';

describe('policy schedules (croner)', () => {
  const p = { schedule: '0 2 * * *', timezone: 'UTC', enabled: true, lastRunAt: null, createdAt: new Date('2025-01-01T10:00:00Z') };

  it('due once the first run time after the last run has come', () => {
    expect(isDue(p, new Date('2025-01-02T01:59:59Z'))).toBe(false);
    expect(isDue(p, new Date('2025-01-02T02:00:00Z'))).toBe(true);
    expect(isDue({ ...p, lastRunAt: new Date('2025-01-02T02:00:00Z') }, new Date('2025-01-02T03:00:00Z'))).toBe(false);
    // down for three days: one run, not three
    expect(isDue({ ...p, lastRunAt: new Date('2025-01-02T02:00:00Z') }, new Date('2025-01-05T12:00:00Z'))).toBe(true);
    expect(isDue({ ...p, enabled: false }, new Date('2025-01-05T12:00:00Z'))).toBe(false);
  });

  it('time zones count', () => {
    expect(nextRun('0 2 * * *', 'Europe/Berlin', new Date('2025-01-01T00:00:00Z'))?.toISOString()).toBe('2025-01-01T01:00:00.000Z');
  });

  it('refuses nonsense with a message naming the pattern', () => {
    expect(() => validateSchedule('every day')).toThrow(ScheduleError);
    expect(() => validateSchedule('0 2 * * *', 'Mars/Olympus')).toThrow(/Mars\/Olympus/);
    expect(() => validateSchedule('0 0 30 2 *')).toThrow();
    expect(() => validateSchedule('*/15 * * * *')).not.toThrow();
  });
});
