/**
 * Polls `check` every 50 ms until it gives a value (anything but undefined) and returns that value; throws
 * naming `what` when none comes within `timeoutMs`, followed by what `detail` says then (the values last
 * seen).
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `cond` every 50 ms until it holds; throws as `waitFor` does when it does not within `ms`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 15_000,
  what = 'a condition',
  detail?: () => string,
): Promise<void> {
  await waitFor(what, async () => ((await cond()) ? true : undefined), ms, detail);
}
