/**
 * The README is the operator's reference: its configuration table must list
 * exactly the variables the config schema reads, and its kinds table must be
 * the kind registry. Each drifted apart from the code once before.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, DISCREPANCY_KIND_SPECS } from '../../core/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The body rows of the first markdown table after `heading`, as arrays of trimmed cells. */
function tableAfter(heading: RegExp): string[][] {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => heading.test(l));
  if (start < 0) throw new Error(`README has no line matching ${heading}`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('|')) {
      inTable = true;
      rows.push(
        line
          .slice(1, line.endsWith('|') ? -1 : undefined)
          .split('|')
          .map((c) => c.trim()),
      );
    } else if (inTable) break;
  }
  if (rows.length < 2) throw new Error(`no table after ${heading}`);
  return rows.slice(2); // header and separator
}

describe('README', () => {
  it('configuration table lists exactly the variables the config schema reads', () => {
    const documented = tableAfter(/^## Configuration$/).flatMap(([cell = '']) => [...cell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!));
    expect(new Set(documented).size, 'a variable is listed twice').toBe(documented.length);
    expect([...documented].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('kinds table is the kind registry: kind, check, entity, handling and note', () => {
    const rows = tableAfter(/^Two checks: /).map(([kind, check, entity, handling, note]) => ({ kind, check, entity, handling, note }));
    const expected = Object.entries(DISCREPANCY_KIND_SPECS).map(([kind, spec]) => ({
      kind: `\`${kind}\``,
      check: `\`${spec.check}\``,
      entity: spec.entity,
      handling: spec.compensable ? 'compensated' : 'report only',
      note: spec.note,
    }));
    expect(rows).toEqual(expected);
  });
});
