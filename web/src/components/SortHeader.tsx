/**
 * A sortable column header: a button in the `<th>` (keyboard-reachable, named by its label) with
 * `aria-sort` on the header of the column the table is sorted by. The sort itself lives in the URL.
 */
import type { ComponentChildren } from 'preact';

export type SortDir = 'asc' | 'desc';

export function SortHeader(p: {
  label: ComponentChildren;
  /** Whether the table is sorted by this column, and which way. */
  active: SortDir | undefined;
  onSort: () => void;
  num?: boolean;
  title?: string;
}) {
  const arrow = p.active === 'asc' ? ' ▲' : p.active === 'desc' ? ' ▼' : '';
  return (
    <th
      scope="col"
      class={p.num ? 'num sortable' : 'sortable'}
      aria-sort={p.active === 'asc' ? 'ascending' : p.active === 'desc' ? 'descending' : undefined}
      title={p.title}
    >
      <button type="button" class="sort" onClick={p.onSort}>
        {p.label}
        <span aria-hidden="true">{arrow}</span>
      </button>
    </th>
  );
}
