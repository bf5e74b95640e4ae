/**
 * Form pieces the settings sections share: labelled inputs, one busy/error state per form (the API's
 * message shown next to the form), a confirmation step before anything destructive, and a secret that is
 * shown once.
 */
import type { ComponentChildren, PartialInputHTMLAttributes } from 'preact';
import { useState } from 'preact/hooks';
import { CodeBlock, Empty, ErrorBox, Loading } from '../../components/ui';
import type { Loaded } from '../../data';

/** An input with its label; extra attributes go to the input. */
export function Field(
  p: { id: string; label: string; hint?: string } & Omit<
    PartialInputHTMLAttributes<HTMLInputElement>,
    'id' | 'label'
  >,
) {
  const { id, label, hint, ...input } = p;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        aria-describedby={hint ? `${id}-hint` : undefined}
        {...(input as Record<string, unknown>)}
      />
      {hint ? (
        <small id={`${id}-hint`} class="muted">
          {hint}
        </small>
      ) : null}
    </div>
  );
}

export function SelectField(p: {
  id: string;
  label: string;
  value: string;
  options: readonly (string | { value: string; label: string })[];
  onChange: (v: string) => void;
}) {
  return (
    <div class="field">
      <label for={p.id}>{p.label}</label>
      <select id={p.id} value={p.value} onChange={(e) => p.onChange((e.target as HTMLSelectElement).value)}>
        {p.options.map((o) =>
          typeof o === 'string' ? (
            <option key={o} value={o}>
              {o}
            </option>
          ) : (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ),
        )}
      </select>
    </div>
  );
}

/** The value of an input event. */
export const inputValue = (e: Event): string => (e.target as HTMLInputElement).value;

export interface Action {
  busy: boolean;
  error: string | undefined;
  /** Runs `fn`, keeping the form busy meanwhile; a failure's message is shown by `<ActionError>`. */
  run: (fn: () => Promise<unknown>) => Promise<boolean>;
  clear: () => void;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  return {
    busy,
    error,
    clear: () => setError(undefined),
    run: async (fn) => {
      setBusy(true);
      setError(undefined);
      try {
        await fn();
        return true;
      } catch (err) {
        setError(err instanceof Error ? err.message : String(err));
        return false;
      } finally {
        setBusy(false);
      }
    },
  };
}

export function ActionError({ action }: { action: Action }) {
  if (!action.error) return null;
  return (
    <p class="error" role="alert">
      {action.error}
    </p>
  );
}

/**
 * A destructive action in two steps: the button asks, then a group titled with `question` ("Revoke the
 * token ci-deploy? …") offers to do it or to cancel.
 */
export function ConfirmButton(p: {
  label: string;
  question: string;
  onConfirm: () => Promise<unknown>;
  action: Action;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" class="danger" onClick={() => setAsking(true)} disabled={p.action.busy}>
        {p.label}
      </button>
    );
  return (
    <fieldset class="confirm">
      <legend>{p.question}</legend>
      <button
        type="button"
        class="danger"
        disabled={p.action.busy}
        onClick={() => {
          void p.action.run(p.onConfirm).then(() => setAsking(false));
        }}
      >
        Yes, {p.label.toLowerCase()}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </fieldset>
  );
}

/** A secret the server returns once (a token, a generated password): shown with a copy button. */
export function ShownOnce(p: {
  title: string;
  value: string;
  children?: ComponentChildren;
  onDone: () => void;
}) {
  return (
    <div class="shown-once" role="status">
      <p>
        <strong>{p.title}</strong> It is shown only now: copy it before you close this.
      </p>
      <CodeBlock code={p.value} label={p.title.replace(/[.:]$/, '').toLowerCase()} />
      {p.children}
      <button type="button" onClick={p.onDone}>
        Done
      </button>
    </div>
  );
}

/** A form laid out as a row of labelled fields with its submit button and its error below. */
export function InlineForm(p: {
  label: string;
  action: Action;
  submit: string;
  onSubmit: () => Promise<unknown>;
  children: ComponentChildren;
}) {
  return (
    <form
      class="inline-form"
      aria-label={p.label}
      onSubmit={(e) => {
        e.preventDefault();
        void p.action.run(p.onSubmit);
      }}
    >
      <div class="fields">
        {p.children}
        <button type="submit" class="primary" disabled={p.action.busy}>
          {p.submit}
        </button>
      </div>
      <ActionError action={p.action} />
    </form>
  );
}

/** A loaded list as a table: loading and error states, an empty message, one `row` per item. */
export function Listing<T>(p: {
  loaded: Loaded<T[]>;
  what: string;
  empty: ComponentChildren;
  head: readonly string[];
  row: (item: T) => ComponentChildren;
}) {
  const { data, error } = p.loaded;
  return (
    <>
      <ErrorBox error={error} />
      {data === undefined ? (
        error ? null : (
          <Loading what={p.what} />
        )
      ) : data.length === 0 ? (
        <Empty>{p.empty}</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                {p.head.map((h) => (
                  <th key={h} scope="col">
                    {h}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>{data.map(p.row)}</tbody>
          </table>
        </div>
      )}
    </>
  );
}
