/**
 * The scrape job: every few seconds, the enabled server-side scrape targets whose interval has passed are
 * scraped (../scrape/scraper.ts), a few at a time. The job's advisory lock (./runner.ts) makes one server
 * instance scrape at a time, so a target is not scraped twice by two instances in one interval.
 */
import { dueScrapeTargets } from '../../storage/queries/scrape-targets.sql.js';
import type { ServerScraper } from '../scrape/scraper.js';
import type { Job } from './runner.js';

/** Targets scraped per round, and at once. */
const perRound = 200;
const concurrency = 4;

export function scrapesJob(scraper: ServerScraper, intervalMs = 5_000): Job {
  return {
    name: 'scrapes',
    intervalMs,
    async run({ pool, now }) {
      const due = await dueScrapeTargets(pool, now, perRound);
      let next = 0;
      const worker = async () => {
        while (next < due.length) {
          const row = due[next++]!;
          await scraper.scrape(row, new Date());
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
      return { scraped: due.length };
    },
  };
}
