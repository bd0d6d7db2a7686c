/** bull-board under `/admin/queues`: the run queue and the others given; read-only without a token. Its errors go to the server's error handler. */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';

export const QUEUES_PATH = '/admin/queues';

export async function registerQueueBoard(app: FastifyInstance, queues: readonly Queue[], { readOnly }: { readOnly: boolean }): Promise<void> {
  const board = new FastifyAdapter();
  board.setBasePath(QUEUES_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: readOnly })),
    // @bull-board/fastify ships its own copy of @bull-board/api typings; the adapter contract is the same.
    serverAdapter: board as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'recon queues' } },
  });
  // bull-board's own error handler answers with the error's text (Redis hosts and all); rethrowing
  // hands the error to the server's handler, which logs it and answers without it.
  board.setErrorHandler((err) => {
    throw err;
  });
  await app.register(board.registerPlugin(), { prefix: QUEUES_PATH });
}
