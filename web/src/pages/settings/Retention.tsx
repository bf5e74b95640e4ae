/** Retention: how many days each tier is kept; the partition job applies a change on its next run. */
import { useState } from 'preact/hooks';
import { getRetention, putRetention, type Retention } from '../../api';
import { ErrorBox, Loading, Panel } from '../../components/ui';
import { useData } from '../../data';
import { Field, InlineForm, inputValue, useAction } from './forms';

const tiers: { key: keyof Retention; label: string; min: number; max: number; hint: string }[] = [
  { key: 'rawDays', label: 'Raw samples (days)', min: 1, max: 90, hint: 'Every sample as collected; 1–90.' },
  { key: 'hourlyDays', label: 'Hourly rollups (days)', min: 7, max: 3650, hint: '7–3650.' },
  { key: 'dailyDays', label: 'Daily rollups (days)', min: 30, max: 36500, hint: '30–36500.' },
];

function RetentionForm({ current, onSaved }: { current: Retention; onSaved: () => void }) {
  const [v, setV] = useState<Record<keyof Retention, string>>({
    rawDays: String(current.rawDays),
    hourlyDays: String(current.hourlyDays),
    dailyDays: String(current.dailyDays),
  });
  const [saved, setSaved] = useState(false);
  const action = useAction();
  return (
    <>
      <InlineForm
        label="Retention"
        action={action}
        submit="Save retention"
        onSubmit={async () => {
          setSaved(false);
          await putRetention({
            rawDays: Number(v.rawDays),
            hourlyDays: Number(v.hourlyDays),
            dailyDays: Number(v.dailyDays),
          });
          setSaved(true);
          onSaved();
        }}
      >
        {tiers.map((t) => (
          <Field
            key={t.key}
            id={`retention-${t.key}`}
            label={t.label}
            type="number"
            required
            min={t.min}
            max={t.max}
            step={1}
            hint={t.hint}
            value={v[t.key]}
            onInput={(e) => {
              setSaved(false);
              setV({ ...v, [t.key]: inputValue(e) });
            }}
          />
        ))}
      </InlineForm>
      {saved ? (
        <p role="status" class="muted">
          Saved. Older partitions are dropped on the partition job's next run.
        </p>
      ) : null}
    </>
  );
}

export function RetentionSection() {
  const r = useData((s) => getRetention(s), []);
  return (
    <Panel title="Retention" id="retention">
      <p class="muted">
        Data older than this is dropped a whole day at a time. Charts over longer ranges read the hourly and
        daily rollups.
      </p>
      <ErrorBox error={r.error} />
      {r.data ? (
        <RetentionForm current={r.data} onSaved={r.reload} />
      ) : r.error ? null : (
        <Loading what="retention" />
      )}
    </Panel>
  );
}
