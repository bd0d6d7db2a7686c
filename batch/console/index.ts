/** The operator console: server-rendered pages and their forms (the routes are in ../http/routes/console.ts). */
export * from './layout.js';
export * from './pages.js';
export * from './style.js';
export * from './held.js';
