/**
 * Request validation of the API (zod). A bad request gets a 400 that names
 * the field: `{"error": "bad request", "field": "from", "message": "must be an ISO-8601 timestamp"}`.
 */
import { z } from 'zod';
import {
  ALL_CHECK_NAMES,
  ALL_DISCREPANCY_KINDS,
  COMPENSABLE_KINDS,
  DISCREPANCY_STATUSES,
  ISO_INSTANT_HINT,
  parseIsoInstant,
  parseUuid,
  rangeProblem,
  RUN_STATUSES,
  RUN_TRIGGERS,
  type CheckName,
  type DiscrepancyKind,
} from '../../core/index.js';
import { decodeCursor } from '../../db/index.js';

export interface BadRequest {
  error: 'bad request';
  field: string;
  message: string;
}

const isoInstant = z
  .string({ error: ISO_INSTANT_HINT })
  .refine((v) => parseIsoInstant(v) !== undefined, ISO_INSTANT_HINT)
  .transform((v) => parseIsoInstant(v)!);

const checkName = z.enum(ALL_CHECK_NAMES as [CheckName, ...CheckName[]], { error: `must be one of ${ALL_CHECK_NAMES.join(', ')}` });

/** `"all"`, one check name, or a list of them. */
const checks = z
  .union([z.literal('all'), checkName, z.array(checkName).min(1, 'must name at least one check')], {
    error: `must be "all", a check name or a list of check names (${ALL_CHECK_NAMES.join(', ')})`,
  })
  .transform((v): CheckName[] => (v === 'all' ? [...ALL_CHECK_NAMES] : Array.isArray(v) ? [...new Set(v)] : [v]));

/** `POST /api/runs`; `windowSeconds` bounds the re-check range as the command line does. */
export const startRunBody = (windowSeconds: number) =>
  z
    .strictObject(
      {
        checks: checks.default([...ALL_CHECK_NAMES]),
        from: isoInstant.optional(),
        to: isoInstant.optional(),
        dryRun: z.boolean({ error: 'must be true or false' }).default(false),
        email: z.boolean({ error: 'must be true or false' }).optional(),
      },
      { error: 'must be a JSON object' },
    )
    .superRefine((v, ctx) => {
      // Zod runs this even when a field failed its own check: judge only well-formed instants.
      if ((v.from !== undefined && !(v.from instanceof Date)) || (v.to !== undefined && !(v.to instanceof Date))) return;
      const problem = rangeProblem(v, windowSeconds);
      if (problem) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
    });
export type StartRunBody = z.output<ReturnType<typeof startRunBody>>;

const limit = (max: number, dflt: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number between 1 and ${max}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `must be a whole number between 1 and ${max}`)
    .default(dflt);

/**
 * A cursor is decoded and checked in full here, an instant that exists and a
 * real UUID: what reaches Postgres must never fail there (a 500 instead of
 * a 400 naming the field).
 */
export function isValidCursor(c: string): boolean {
  const d = decodeCursor(c);
  return d !== undefined && parseIsoInstant(d.at) !== undefined && parseUuid(d.id) !== undefined;
}

const cursor = z.string().refine(isValidCursor, 'is not a cursor returned by this API');

export const listRunsQuery = z.strictObject({
  limit: limit(200, 50),
  cursor: cursor.optional(),
  status: z.enum(RUN_STATUSES, { error: `must be one of ${RUN_STATUSES.join(', ')}` }).optional(),
  trigger: z.enum(RUN_TRIGGERS, { error: `must be one of ${RUN_TRIGGERS.join(', ')}` }).optional(),
});

export const listDiscrepanciesQuery = z.strictObject({
  run: z
    .string()
    .refine((v) => parseUuid(v) !== undefined, 'must be a run id (UUID)')
    .optional(),
  kind: z.enum(ALL_DISCREPANCY_KINDS as [DiscrepancyKind, ...DiscrepancyKind[]], { error: `must be one of ${ALL_DISCREPANCY_KINDS.join(', ')}` }).optional(),
  status: z.enum(DISCREPANCY_STATUSES, { error: `must be one of ${DISCREPANCY_STATUSES.join(', ')}` }).optional(),
  check: checkName.optional(),
  limit: limit(500, 100),
  cursor: cursor.optional(),
});

export const runIdParams = z.strictObject({ id: z.string().refine((v) => parseUuid(v) !== undefined, 'must be a run id (UUID)') });

const compensableKind = z.enum(COMPENSABLE_KINDS as [DiscrepancyKind, ...DiscrepancyKind[]], {
  error: `must be one of ${COMPENSABLE_KINDS.join(', ')}`,
});

/** `POST /api/runs/:id/approve`: which held compensations to queue (all by default). */
export const approveBody = z.strictObject(
  {
    kind: compensableKind.optional(),
    limit: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(10_000_000).optional(),
  },
  { error: 'must be a JSON object' },
);

/** `POST /api/runs/:id/dismiss`: which held compensations to close, and why. */
export const dismissBody = z.strictObject(
  {
    kind: compensableKind.optional(),
    reason: z.string({ error: 'must say why (a string)' }).trim().min(1, 'must say why').max(2000, 'at most 2000 characters'),
  },
  { error: 'must be a JSON object' },
);

/** Parse `input`; on failure, the 400 body naming the first bad field. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, where: string): { ok: true; value: z.output<S> } | { ok: false; error: BadRequest } {
  const result = schema.safeParse(input ?? {});
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  const field = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.map(String).join('.') || where;
  const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
  return { ok: false, error: { error: 'bad request', field, message } };
}
