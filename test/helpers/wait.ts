/**
 * Polls `cond` every 50 ms until it holds; throws naming `what` when it does not within `ms`, followed by
 * what `detail` says then (the values last seen).
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 15_000,
  what = 'condition',
  detail?: () => string,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms${detail ? `: ${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
