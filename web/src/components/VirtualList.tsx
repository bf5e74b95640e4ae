/**
 * A long list that stays fast with thousands of rows: every row has the same height, and only the rows in
 * view plus `overscan` above and below are in the DOM, placed at `index × rowHeight` inside a body as tall
 * as all rows. Scrolling re-renders this component only (once per frame at most), never the page.
 *
 * It is a real table laid out by CSS (grid rows) with `aria-rowcount` and `aria-rowindex` on each row, so a
 * screen reader knows how many rows there are although few are rendered; `header` holds the `<th>` cells of
 * its column-header row, kept in view.
 * The scroll container fills the window below it (at least `minHeight`), so the page itself barely scrolls.
 */
import type { ComponentChildren, VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/** The rows to render for a scroll position: [first, end) of the list, with `overscan` rows either side. */
export function visibleRows(
  scrollTop: number,
  viewHeight: number,
  rowHeight: number,
  count: number,
  overscan: number,
): [number, number] {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const end = Math.min(count, Math.ceil((scrollTop + viewHeight) / rowHeight) + overscan);
  return [first, Math.max(first, end)];
}

export interface VirtualListProps<T> {
  items: readonly T[];
  /** px; every row is exactly this tall (CSS must agree). */
  rowHeight: number;
  /** Stable key of an item (keeps a row's DOM while it stays in view). */
  itemKey: (item: T) => string | number;
  /** The `<td>` cells of an item's row (rows flying past are not rendered: see `flyingRows`). */
  renderRow: (item: T) => ComponentChildren;
  /** The table's accessible name. */
  label: string;
  /** The `<th scope="col">` cells of the column-header row. */
  header: ComponentChildren;
  class?: string;
  /** Rows rendered beyond the visible ones, above and below. */
  overscan?: number;
  minHeight?: number;
  /** Called once after the first render that had rows (a performance mark, a test hook). */
  onFirstRows?: () => void;
  /** When this changes (a new filter), the list scrolls back to its top. */
  resetOn?: string;
  /** Called on every scroll event (the page holds back reloads that would re-render the rows meanwhile). */
  onScrolled?: () => void;
}

/** Rows a frame beyond which a scroll is a flight (a fast wheel or a dragged scrollbar). */
const flyingRows = 3;
/** A flight has ended this long after its last fast frame. */
const settleMs = 150;

export function VirtualList<T>(p: VirtualListProps<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 800 });
  const frame = useRef(0);
  const told = useRef(false);
  const minHeight = p.minHeight ?? 320;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    // Fill the window from the list's top down to what the page has below it; the result does not change
    // what it is computed from, so refitting on every layout change settles at once.
    const fit = () => {
      const r = el.getBoundingClientRect();
      const below = document.body.getBoundingClientRect().bottom - r.bottom;
      const h = Math.max(minHeight, Math.floor(window.innerHeight - r.top - window.scrollY - below));
      if (el.style.height !== `${h}px`) el.style.height = `${h}px`;
      setView({ top: el.scrollTop, height: el.clientHeight });
    };
    fit();
    const layout = new ResizeObserver(fit);
    layout.observe(document.body);
    window.addEventListener('resize', fit);
    return () => {
      layout.disconnect();
      window.removeEventListener('resize', fit);
      cancelAnimationFrame(frame.current);
    };
  }, [minHeight]);

  useEffect(() => {
    const el = box.current;
    if (el && el.scrollTop !== 0) el.scrollTop = 0;
  }, [p.resetOn]);

  // A flight (a frame that moved more than `flyingRows` rows: a fast wheel, a dragged scrollbar; also a
  // single jump such as PageDown, drawn 150 ms later) leaves the rows as they are: the body's row lines fly
  // past instead, drawn by its background, and the rows in view are rendered once it settles (`settleMs`
  // without a fast frame) or slows down. Rendering several rows a frame — style, layout and paint of each —
  // is what pushed frames past 50 ms on a busy machine; nobody reads rows passing at that speed.
  const settle = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const lastTop = useRef(0);
  useEffect(() => () => clearTimeout(settle.current), []);
  const onScroll = () => {
    p.onScrolled?.();
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      const el = box.current;
      if (!el) return;
      const top = el.scrollTop;
      const fast = Math.abs(top - lastTop.current) > flyingRows * p.rowHeight;
      lastTop.current = top;
      clearTimeout(settle.current);
      if (fast) {
        settle.current = setTimeout(() => {
          const now = box.current;
          if (now) setView({ top: now.scrollTop, height: now.clientHeight });
        }, settleMs);
        return;
      }
      setView({ top, height: el.clientHeight });
    });
  };

  const overscan = p.overscan ?? 8;
  const [first, end] = visibleRows(view.top, view.height, p.rowHeight, p.items.length, overscan);

  useEffect(() => {
    if (told.current || p.items.length === 0 || !p.onFirstRows) return;
    told.current = true;
    p.onFirstRows();
  });

  // A row's vnode is made once per item, place and height: handing Preact the same vnode again lets it
  // skip that row entirely, so a scrolled frame costs only the rows that came into view.
  const cache = useRef(new WeakMap<object, { i: number; h: number; row: VNode }>());
  const rows: VNode[] = [];
  for (let i = first; i < end; i++) {
    const item = p.items[i]!;
    const cached = typeof item === 'object' && item !== null ? cache.current.get(item) : undefined;
    if (cached && cached.i === i && cached.h === p.rowHeight) {
      rows.push(cached.row);
      continue;
    }
    const row = (
      <tr
        key={p.itemKey(item)}
        aria-rowindex={i + 2}
        class="vrow"
        style={{ transform: `translateY(${i * p.rowHeight}px)`, height: `${p.rowHeight}px` }}
      >
        {p.renderRow(item)}
      </tr>
    );
    if (typeof item === 'object' && item !== null) cache.current.set(item, { i, h: p.rowHeight, row });
    rows.push(row);
  }

  return (
    <div ref={box} class={`vlist ${p.class ?? ''}`} onScroll={onScroll}>
      <table aria-label={p.label} aria-rowcount={p.items.length + 1}>
        <thead class="vhead">
          <tr aria-rowindex={1} class="vrow vhead-row">
            {p.header}
          </tr>
        </thead>
        <tbody
          class="vbody"
          style={{ height: `${p.items.length * p.rowHeight}px`, '--row-h': `${p.rowHeight}px` }}
        >
          {rows}
        </tbody>
      </table>
    </div>
  );
}
