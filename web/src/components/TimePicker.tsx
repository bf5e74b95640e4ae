/** The one time-range picker of every page: presets, and the absolute range a drag-zoom set. */
import { formatTime } from '../format';
import { presets, setRange, type TimeRange } from '../time';

export function TimePicker({ range }: { range: TimeRange }) {
  const preset = presets.find((p) => p.from === range.raw.from && range.raw.to === 'now');
  return (
    <div class="timepicker">
      <label for="range-select">Time range</label>
      <select
        id="range-select"
        value={preset?.from ?? 'custom'}
        onChange={(e) => {
          const v = (e.target as HTMLSelectElement).value;
          if (v !== 'custom') setRange(v);
        }}
      >
        {presets.map((p) => (
          <option key={p.from} value={p.from}>
            Last {p.label}
          </option>
        ))}
        {preset ? null : (
          <option value="custom">
            {formatTime(range.from)} – {range.live ? 'now' : formatTime(range.to)}
          </option>
        )}
      </select>
    </div>
  );
}
