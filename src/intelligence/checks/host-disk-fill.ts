/**
 * The filesystem fill forecast (a job check): a least-squares line through each filesystem's used bytes
 * over the last 6 hours, one point a minute (from the minute rollups and the raw rows of hours not yet
 * rolled: ../../storage/queries/findings-host.sql.ts); when the line is steady (enough samples over enough time, R² high) and rising,
 * the time until the available space is gone is `avail / slope`. Under 6 h is critical, under 24 h a
 * warning — early enough to act, where the used-% check (./host.ts) only speaks at 85 %.
 *
 * Noisy series (a temp file written and removed, a log rotated, a VACUUM FULL) fit badly and say nothing;
 * a series that was flat and started growing in the last hour fits badly too, until the growth dominates
 * the window — the forecast is for steady fills, the used-% check for the rest.
 */
import { type FilesystemTrendRow, filesystemTrends } from '../../storage/queries/findings-host.sql.js';
import { fillingAction, maxText } from './host.js';
import type { JobCheck, JobObservation, Scope } from './types.js';
import { cut, grade, humanBytes, humanSeconds, num, round2, str } from './util.js';

/** The window the trend is fitted over. */
export const fillWindowMs = 6 * 3_600_000;
/** Series fitted per run at most (the rest wait: the query is bounded like everything else). */
const maxSeries = 200_000;

export const hostDiskFill: JobCheck<FilesystemTrendRow[]> = {
  id: 'host.disk_fill',
  group: 'host',
  mode: 'job',
  // Reads up to two hours of raw rows of every host: a 6-hour trend changes little in five minutes.
  intervalMs: 5 * 60_000,
  kind: 'alert',
  title: 'Filesystem will be full within hours at the current rate',
  doc: {
    evidence:
      'hours left, growth per hour (least squares over the last 6 h), R², samples, used/available/size now',
    action:
      '`du -xh --max-depth=2 <mount> | sort -h | tail -20`, and for a PostgreSQL volume the WAL kept by slots',
  },
  thresholds: {
    critical_hours: { default: 6, unit: 'h', help: 'full in less than this many hours', min: 0.1, max: 720 },
    warning_hours: { default: 24, unit: 'h', help: 'full in less than this many hours', min: 0.1, max: 720 },
    min_r2: {
      default: 0.8,
      unit: 'ratio',
      help: 'how straight the used-bytes line must be (R², 0…1) to be believed',
      min: 0,
      max: 1,
    },
    min_points: {
      default: 20,
      unit: 'count',
      help: 'minutes with samples needed in the window (the fit takes one point a minute)',
      min: 3,
      max: 360,
    },
    min_span_s: {
      default: 3600,
      unit: 's',
      help: 'time the samples must cover in the window (a steady trend over minutes is not one over hours)',
      min: 60,
      max: 21_600,
    },
  },
  load: (db, now) => filesystemTrends(db, now, fillWindowMs, maxSeries),
  evaluate(input, thresholdsFor, now) {
    const observations: JobObservation[] = [];
    const scopes = new Map<number, Scope>();
    for (const r of input) {
      const serverId = num(r.serverId);
      if (serverId === null) continue;
      scopes.set(serverId, { serverId, targetId: null });
      const t = thresholdsFor(serverId, null);
      const slope = num(r.slopeBytesPerSecond);
      const r2 = num(r.r2);
      const avail = num(r.availBytes);
      const points = num(r.points) ?? 0;
      const span = num(r.spanSeconds) ?? 0;
      if (slope === null || r2 === null || avail === null || slope <= 0 || avail < 0) continue;
      if (r2 < (t.min_r2 ?? 0.8) || points < (t.min_points ?? 20) || span < (t.min_span_s ?? 3600)) continue;
      // The line says when avail reaches 0, counted from the last sample, not from now.
      const lastTs = num(r.lastTs) ?? now;
      const hoursLeft = Math.max(0, avail / slope / 3600 - Math.max(0, now - lastTs) / 3_600_000);
      const severity = grade(
        hoursLeft,
        { warning: t.warning_hours ?? 24, critical: t.critical_hours ?? 6 },
        undefined,
        true,
      );
      if (!severity) continue;
      const mount = cut(str(r.mountpoint), maxText);
      const perHour = slope * 3600;
      const full = new Date(lastTs + (avail / slope) * 1000).toISOString();
      observations.push({
        serverId,
        targetId: null,
        object: mount,
        severity,
        title: `${mount} full in ${humanSeconds(hoursLeft * 3600)} at ${humanBytes(perHour)}/h`,
        explanation: `${mount} has grown steadily by ${humanBytes(perHour)} an hour over the last ${humanSeconds(span)}; at that rate its ${humanBytes(avail)} left are gone around ${full}. When it is full, writes fail: PostgreSQL on a full data or WAL volume stops and will not start until space is freed.`,
        evidence: {
          mountpoint: mount,
          device: cut(str(r.device), maxText),
          fstype: cut(str(r.fstype), 40),
          hours_left: round2(hoursLeft),
          full_at: full,
          growth_bytes_per_hour: Math.round(perHour),
          r2: round2(r2),
          points,
          span_s: Math.round(span),
          used_bytes: num(r.usedBytes),
          avail_bytes: avail,
          size_bytes: num(r.sizeBytes),
          ts: new Date(lastTs).toISOString(),
        },
        action: fillingAction(mount),
        value: round2(hoursLeft),
      });
    }
    return { observations, scopes: [...scopes.values()] };
  },
};

export const hostJobChecks = [hostDiskFill];
