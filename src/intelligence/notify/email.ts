/**
 * E-mail over SMTP (nodemailer): a plain-text body and a simple HTML one with the same content —
 * headline, where, explanation, the action as preformatted text, and the evidence. TLS is `tls` (implicit,
 * port 465), `starttls` (required: a server that does not offer it is a failure, not a silent downgrade) or
 * `none` (a relay on this host or a trusted network).
 */
import type { DestinationCheck } from './address.js';
import type { DeliveryEvent, EmailConfig } from './channels.js';
import { destinationFailure, failure, type SendResult } from './http.js';
import { findingHeadline, findingPlace } from './slack.js';

export interface EmailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function formatEmail(e: DeliveryEvent, config: EmailConfig): EmailMessage {
  const f = e.finding;
  const subject = `[pgvigil] ${findingHeadline(e)}`.replace(/[\r\n]+/g, ' ').slice(0, 250);
  const evidence = JSON.stringify(f.evidence, null, 2);
  const lines = [
    findingHeadline(e),
    '',
    `Where:    ${findingPlace(f)}`,
    `Check:    ${f.check} (${f.severity})`,
    `Since:    ${f.firstSeen}`,
    ...(e.event === 'resolved' ? [`Resolved: ${f.resolvedAt ?? e.at}`] : []),
    '',
    f.explanation,
    '',
    ...(f.action ? ['What to do:', '', ...f.action.split('\n').map((l) => `    ${l}`), ''] : []),
    'Evidence:',
    evidence,
    '',
    `Finding ${f.key}`,
  ];
  const html = [
    `<h2>${escapeHtml(findingHeadline(e))}</h2>`,
    `<p><b>Where:</b> ${escapeHtml(findingPlace(f))}<br><b>Check:</b> ${escapeHtml(f.check)} (${f.severity})<br><b>Since:</b> ${escapeHtml(f.firstSeen)}${e.event === 'resolved' ? `<br><b>Resolved:</b> ${escapeHtml(f.resolvedAt ?? e.at)}` : ''}</p>`,
    `<p>${escapeHtml(f.explanation)}</p>`,
    ...(f.action ? [`<p><b>What to do:</b></p><pre>${escapeHtml(f.action)}</pre>`] : []),
    `<p><b>Evidence:</b></p><pre>${escapeHtml(evidence)}</pre>`,
    `<p style="color:#666">Finding ${escapeHtml(f.key)}</p>`,
  ].join('\n');
  return { from: config.from, to: config.to, subject, text: lines.join('\n'), html };
}

export async function sendEmail(
  e: DeliveryEvent,
  config: EmailConfig,
  opts: DestinationCheck & { timeoutMs: number },
): Promise<SendResult> {
  const started = Date.now();
  const refused = await destinationFailure(config.host, opts, started);
  if (refused) return refused;
  // Loaded on the first e-mail: most servers never send one, and it would add to every start-up.
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.security === 'tls',
    requireTLS: config.security === 'starttls',
    ignoreTLS: config.security === 'none',
    ...(config.username !== undefined
      ? { auth: { user: config.username, pass: config.password ?? '' } }
      : {}),
    connectionTimeout: opts.timeoutMs,
    greetingTimeout: opts.timeoutMs,
    socketTimeout: opts.timeoutMs,
    logger: false,
  });
  try {
    await transport.sendMail(formatEmail(e, config));
    return { ok: true, status: 250, latencyMs: Date.now() - started, permanent: false };
  } catch (err) {
    const x = err as { code?: string; responseCode?: number; message: string };
    const code = x.responseCode ?? null;
    if (x.code === 'ETIMEDOUT') return failure('timeout', `no answer within ${opts.timeoutMs} ms`, started);
    // 5xx SMTP replies are permanent (bad recipient, authentication refused): retrying cannot help.
    return {
      ...failure(
        'smtp',
        `${x.code ?? 'SMTP'}${code ? ` ${code}` : ''}: ${x.message.slice(0, 300)}`,
        started,
        code,
      ),
      permanent: code !== null && code >= 500,
    };
  } finally {
    transport.close();
  }
}
