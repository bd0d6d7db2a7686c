/** The users database: users, the balance view, and the users side of the checks. */
export * from './users.js';
export * from './balances.js';
export * from './window-queries.js';
