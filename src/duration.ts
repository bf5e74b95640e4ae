/** "500ms", "10s", "1.5m", "12h", "7d" → milliseconds; undefined when the text is not such a duration. */
export function parseDurationMs(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    m[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Number(m[1]) * unit;
}
