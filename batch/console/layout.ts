/**
 * The console's page shell and the pieces every page uses: navigation,
 * tables, forms with their CSRF field and confirmation. Every interpolated
 * value goes through the one escaping helper (`escapeHtml`): a discrepancy's
 * details, an e-mail address, a topic name or an error message come from
 * other people's data. No inline script and no inline style (not even a
 * `style` attribute): the look comes from `/console.css`, so the pages run
 * under the strict Content-Security-Policy. The pages relax the server's
 * `Referrer-Policy: no-referrer` to `same-origin` (a `<meta>`): under
 * `no-referrer` a browser posts forms with `Origin: null`, which the
 * request guard rightly takes for another site; nothing leaves for other
 * sites either way.
 */
import { escapeHtml as e } from '../report/index.js';

/** Who is looking, and what a form needs to post. */
export interface PageContext {
  role: 'operator' | 'viewer';
  /** The CSRF token of the viewer's session, for the forms. */
  csrf: string;
  /** The stylesheet's URL (with its version, so a browser never keeps an old one). */
  stylesheet: string;
}

export const NAV: readonly { href: string; label: string }[] = [
  { href: '/', label: 'overview' },
  { href: '/runs', label: 'runs' },
  { href: '/discrepancies', label: 'discrepancies' },
  { href: '/dead-letters', label: 'dead letters' },
  { href: '/lag', label: 'lag' },
  { href: '/actions/run', label: 'start a run' },
  { href: '/actions/retry', label: 'retry failed' },
  { href: '/actions/replay', label: 'replay dead letters' },
  { href: '/admin/queues', label: 'queues' },
];

export function page(ctx: PageContext, title: string, body: string): string {
  const nav = NAV.map((n) => `<a href="${e(n.href)}">${e(n.label)}</a>`).join('');
  const role = ctx.role === 'viewer' ? '<span class="role viewer" id="role">viewer: read only</span>' : '<span class="role operator" id="role">operator</span>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${e(title)} · recon</title><link rel="stylesheet" href="${e(ctx.stylesheet)}"></head>
<body>
<header><h1><a href="/">recon</a></h1><nav>${nav}</nav>${role}</header>
<main>
<h2 class="title">${e(title)}</h2>
${body}
</main>
</body></html>`;
}

/** A table of already-escaped cells; `numeric` columns are right-aligned. */
export function table(
  headers: readonly string[],
  rows: readonly string[][],
  { numeric = new Set<number>(), id = '' }: { numeric?: ReadonlySet<number>; id?: string } = {},
): string {
  if (rows.length === 0) return `<p class="muted"${id ? ` id="${e(id)}"` : ''}>none</p>`;
  return (
    `<table${id ? ` id="${e(id)}"` : ''}><thead><tr>${headers.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.has(i) ? ' class="n"' : ''}>${c}</td>`).join('')}</tr>`).join('') +
    `</tbody></table>`
  );
}

/** Label/value rows (values already escaped). */
export function facts(rows: readonly [string, string][], id = ''): string {
  return `<dl class="facts"${id ? ` id="${e(id)}"` : ''}>${rows.map(([k, v]) => `<dt>${e(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

export function section(title: string, body: string, id: string): string {
  return `<section id="${e(id)}"><h3>${e(title)}</h3>${body}</section>`;
}

export function notice(kind: 'ok' | 'error' | 'info', message: string): string {
  return `<p class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${message}</p>`;
}

/** `<option>`s of a select, `selected` kept; `''` is the "any" choice. */
export function options(values: readonly string[], selected: string | undefined, any = 'any'): string {
  return `<option value="">${e(any)}</option>` + values.map((v) => `<option value="${e(v)}"${v === selected ? ' selected' : ''}>${e(v)}</option>`).join('');
}

export interface ActionForm {
  /** Where it posts. */
  action: string;
  /** Id of the form element (tests and anchors). */
  id: string;
  /** The form's own fields (already escaped HTML). */
  fields: string;
  /** What the confirmation checkbox says: the operator ticks it to say they mean it. */
  confirm: string;
  submit: string;
  /** `danger`: the button says it changes something irreversible. */
  tone?: 'danger' | 'normal';
}

/**
 * A state-changing form: POST, its CSRF token, and a required confirmation
 * checkbox (checked by the server too: a form posted without it changes
 * nothing). A viewer gets no form at all, only the note that the action
 * needs the operator token.
 */
export function actionForm(ctx: PageContext, f: ActionForm): string {
  if (ctx.role !== 'operator') return `<p class="muted readonly" data-form="${e(f.id)}">${e(f.submit)}: needs the operator token (RECON_API_TOKEN).</p>`;
  return (
    `<form method="post" action="${e(f.action)}" id="${e(f.id)}" class="action">` +
    `<input type="hidden" name="_csrf" value="${e(ctx.csrf)}">` +
    f.fields +
    `<label class="confirm"><input type="checkbox" name="confirm" value="yes" required> ${e(f.confirm)}</label>` +
    `<button type="submit" class="${f.tone === 'danger' ? 'danger' : 'primary'}">${e(f.submit)}</button>` +
    `</form>`
  );
}

/** A labelled field (its control already rendered). */
export function field(label: string, control: string): string {
  return `<label class="field"><span>${e(label)}</span>${control}</label>`;
}
