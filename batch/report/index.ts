/** The run report: its data, HTML and text renderings, the drift chart, the policy and delivery (mail or files). */
export * from './data.js';
export * from './format.js';
export * from './chart.js';
export * from './html.js';
export * from './text.js';
export * from './deliver.js';
export * from './policy.js';
