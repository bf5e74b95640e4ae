/**
 * Slack (and compatible: Mattermost, Rocket.Chat) incoming webhook: a `text` fallback and blocks with the
 * severity, title, where, explanation and the action as a code block. No links: everything needed is in
 * the message, and a finding's text cannot smuggle one in (`<`, `>` and `&` are escaped, which is how
 * Slack's mrkdwn marks links and mentions).
 */
import type { Finding } from '../model.js';
import type { DeliveryEvent, SlackConfig } from './channels.js';
import type { HttpDelivery } from './http.js';

/** Slack's limit on a section's text. */
const sectionMax = 3000;

function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Server / target / object of a finding, as people read it. */
export function findingPlace(f: Finding): string {
  const parts = [f.serverName ?? `server ${f.serverId}`];
  if (f.targetId !== null) parts.push(f.targetName ?? `target ${f.targetId}`);
  if (f.object) parts.push(f.object);
  return parts.join(' / ');
}

/** The one-line summary every channel starts with. */
export function findingHeadline(e: DeliveryEvent): string {
  const f = e.finding;
  const what = e.event === 'resolved' ? 'RESOLVED' : e.event === 'test' ? 'TEST' : f.severity.toUpperCase();
  return `[${what}] ${f.title} — ${findingPlace(f)}`;
}

export function formatSlack(e: DeliveryEvent, config: SlackConfig): HttpDelivery {
  const f = e.finding;
  const icon =
    e.event === 'resolved'
      ? ':white_check_mark:'
      : f.severity === 'critical'
        ? ':red_circle:'
        : f.severity === 'warning'
          ? ':large_orange_circle:'
          : ':large_blue_circle:';
  const headline = escapeMrkdwn(findingHeadline(e));
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: clip(`${icon} *${headline}*`, sectionMax) } },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: clip(
            escapeMrkdwn(
              `severity: ${f.severity} · check: ${f.check} · since ${f.firstSeen}${e.event === 'resolved' && f.resolvedAt ? ` · resolved ${f.resolvedAt}` : ''}`,
            ),
            sectionMax,
          ),
        },
      ],
    },
  ];
  if (f.explanation)
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: clip(escapeMrkdwn(f.explanation), sectionMax) },
    });
  if (f.action && e.event !== 'resolved') {
    // ``` inside the action would end the code block early.
    const action = escapeMrkdwn(f.action).replace(/```/g, "'''");
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: clip(`\`\`\`${action}\`\`\``, sectionMax) },
    });
  }
  return {
    url: config.url,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      text: clip(headline, sectionMax),
      blocks,
      unfurl_links: false,
      unfurl_media: false,
    }),
  };
}
