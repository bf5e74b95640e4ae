/**
 * Time parsing shared by the parsers, written for the hot path (no Date.parse, no regex for the common
 * shapes) and honest about zones: a timestamp with a zone or offset is converted with it; one without is
 * read in the configured IANA zone (default: this process's local zone).
 */

/** Common zone abbreviations as PostgreSQL's log_timezone prints them (%Z), in minutes east of UTC. */
const abbreviations: Record<string, number> = {
  UTC: 0,
  UT: 0,
  GMT: 0,
  Z: 0,
  WET: 0,
  WEST: 60,
  BST: 60,
  IST: 330,
  CET: 60,
  CEST: 120,
  MET: 60,
  MEST: 120,
  EET: 120,
  EEST: 180,
  MSK: 180,
  SAST: 120,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
  AKST: -540,
  AKDT: -480,
  HST: -600,
  AST: -240,
  ADT: -180,
  NST: -210,
  NDT: -150,
  JST: 540,
  KST: 540,
  HKT: 480,
  SGT: 480,
  AWST: 480,
  ACST: 570,
  ACDT: 630,
  AEST: 600,
  AEDT: 660,
  NZST: 720,
  NZDT: 780,
  WIB: 420,
  PHT: 480,
  PKT: 300,
};

/**
 * Minutes east of UTC for a zone written after a timestamp: an abbreviation (`UTC`, `CEST`), or a numeric
 * offset (`+04`, `-0530`, `+05:30`). Undefined when unknown.
 */
export function zoneOffsetMinutes(zone: string): number | undefined {
  const known = abbreviations[zone];
  if (known !== undefined) return known;
  const c = zone.charCodeAt(0);
  if (c !== 43 && c !== 45) return undefined; // + -
  const digits = zone.slice(1).replace(':', '');
  if (!/^\d{2}(?:\d{2})?$/.test(digits)) return undefined;
  const minutes = Number(digits.slice(0, 2)) * 60 + (digits.length === 4 ? Number(digits.slice(2)) : 0);
  return c === 45 ? -minutes : minutes;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, number>();

/** Offset of an IANA zone at an instant, in ms; cached per zone and hour (zone rules change on hours). */
function ianaOffsetMs(timezone: string, instant: number): number {
  const hour = Math.floor(instant / 3_600_000);
  const key = `${timezone}|${hour}`;
  const cached = offsetCache.get(key);
  if (cached !== undefined) return cached;
  let fmt = formatters.get(timezone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, fmt);
  }
  const parts: Record<string, number> = {};
  for (const p of fmt.formatToParts(new Date(hour * 3_600_000))) parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
  const offset = asUtc - hour * 3_600_000;
  if (offsetCache.size > 10_000) offsetCache.clear();
  offsetCache.set(key, offset);
  return offset;
}

/** True when `timezone` is an IANA zone name this runtime knows. */
export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock fields (month 1–12) read in `timezone` (IANA; undefined = local) → ms since the epoch. */
export function wallClockToEpoch(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
  timezone: string | undefined,
): number {
  if (timezone === undefined) return new Date(year, month - 1, day, hour, minute, second, ms).getTime();
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (timezone === 'UTC' || timezone === 'Etc/UTC') return asUtc;
  try {
    // The offset at the guessed instant, re-checked once for instants near a DST change.
    const first = asUtc - ianaOffsetMs(timezone, asUtc);
    return asUtc - ianaOffsetMs(timezone, first);
  } catch {
    return new Date(year, month - 1, day, hour, minute, second, ms).getTime();
  }
}

const monthNames: Record<string, number> = {
  Jan: 1,
  Feb: 2,
  Mar: 3,
  Apr: 4,
  May: 5,
  Jun: 6,
  Jul: 7,
  Aug: 8,
  Sep: 9,
  Oct: 10,
  Nov: 11,
  Dec: 12,
};

/** `Jan` → 1; undefined for anything else. */
export function monthFromName(name: string): number | undefined {
  return Object.hasOwn(monthNames, name) ? monthNames[name] : undefined;
}

/** Reads `len` decimal digits at `pos`; -1 when any is not a digit. */
export function digitsAt(s: string, pos: number, len: number): number {
  let n = 0;
  for (let i = pos; i < pos + len; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

export interface ParsedTime {
  ts: number;
  /** Index just past the timestamp (and its zone, when one was read). */
  end: number;
}

/**
 * An ISO-like timestamp at `pos`: `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH[:MM]| ABBR]`, also with `/` as the
 * date separator (nginx) and `,` before the fraction (Python logging). `zoneWord` allows a space and an
 * abbreviation after it (PostgreSQL's "2024-01-02 03:04:05.678 UTC").
 */
export function parseIsoTimestamp(
  s: string,
  pos: number,
  timezone: string | undefined,
  zoneWord = false,
): ParsedTime | undefined {
  const year = digitsAt(s, pos, 4);
  const sep = s.charCodeAt(pos + 4);
  if (year < 0 || (sep !== 45 && sep !== 47) || s.charCodeAt(pos + 7) !== sep) return undefined;
  const month = digitsAt(s, pos + 5, 2);
  const day = digitsAt(s, pos + 8, 2);
  const t = s.charCodeAt(pos + 10);
  if (month < 1 || month > 12 || day < 1 || day > 31 || (t !== 32 && t !== 84)) return undefined;
  const hour = digitsAt(s, pos + 11, 2);
  const minute = digitsAt(s, pos + 14, 2);
  const second = digitsAt(s, pos + 17, 2);
  if (hour < 0 || minute < 0 || second < 0 || s.charCodeAt(pos + 13) !== 58 || s.charCodeAt(pos + 16) !== 58)
    return undefined;
  let i = pos + 19;
  let ms = 0;
  const f = s.charCodeAt(i);
  if (f === 46 || f === 44) {
    i++;
    let scale = 100;
    while (i < s.length) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      ms += c * scale;
      scale /= 10;
      i++;
    }
  }
  ms = Math.floor(ms);
  const z = s.charCodeAt(i);
  let offsetMin: number | undefined;
  if (z === 90) {
    offsetMin = 0;
    i++;
  } else if (z === 43 || z === 45) {
    let j = i + 1;
    while (j < s.length && j < i + 6) {
      const c = s.charCodeAt(j);
      if ((c < 48 || c > 57) && c !== 58) break;
      j++;
    }
    const off = zoneOffsetMinutes(s.slice(i, j));
    if (off !== undefined) {
      offsetMin = off;
      i = j;
    }
  } else if (z === 32 && zoneWord) {
    let j = i + 1;
    while (j < s.length && s.charCodeAt(j) !== 32) j++;
    const off = zoneOffsetMinutes(s.slice(i + 1, j));
    if (off !== undefined) {
      offsetMin = off;
      i = j;
    }
  }
  const ts =
    offsetMin === undefined
      ? wallClockToEpoch(year, month, day, hour, minute, second, ms, timezone)
      : Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000;
  return { ts, end: i };
}

/**
 * The year of a "Mon DD HH:MM:SS" timestamp (RFC 3164, no year): the reference year, unless that puts the
 * line more than a month in the future, in which case it was written last year (lines from 31 December
 * read on 1 January).
 */
export function inferYear(month: number, day: number, now: number): number {
  const ref = new Date(now);
  const year = ref.getUTCFullYear();
  const candidate = Date.UTC(year, month - 1, day);
  return candidate - now > 31 * 86_400_000 ? year - 1 : year;
}
