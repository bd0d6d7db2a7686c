/** The console's stylesheet, served at `/console.css?v=<hash>` (the pages have no inline style: the CSP allows none). */
import { createHash } from 'node:crypto';

export const CONSOLE_CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#263238;color:#fff;padding:10px 20px;display:flex;flex-wrap:wrap;gap:16px;align-items:baseline}
header h1{font-size:18px;margin:0}header h1 a{color:#fff;text-decoration:none}
header nav{display:flex;flex-wrap:wrap;gap:12px}header nav a{color:#cfd8dc}
.role{margin-left:auto;padding:2px 8px;border-radius:10px;font-size:12px}
.role.operator{background:#2e7d32}.role.viewer{background:#6d4c41}
main{padding:12px 20px 40px;max-width:1400px}
h2.title{font-size:18px;margin:6px 0 12px}
section{background:#fff;border:1px solid #dde;border-radius:6px;padding:10px 14px;margin:0 0 14px}
section h3{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;font-size:13px;vertical-align:top}
td.n{text-align:right;font-family:ui-monospace,monospace}
td code,dd code{font-size:12px;word-break:break-all}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
dl.facts dt{color:#666}dl.facts dd{margin:0}
.muted{color:#777}
.notice{padding:8px 12px;border-radius:4px}
.notice.ok{background:#e8f5e9;border:1px solid #a5d6a7}
.notice.error{background:#ffebee;border:1px solid #ef9a9a}
.notice.info{background:#e3f2fd;border:1px solid #90caf9}
form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end;margin:0 0 10px}
form.action{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end;margin:6px 0 10px;padding:8px;border:1px dashed #ccd;border-radius:4px}
label.field{display:flex;flex-direction:column;font-size:12px;color:#555;gap:2px}
label.confirm{font-size:13px}
input,select,button{font:inherit;font-size:13px;padding:3px 6px}
input[type=text]{min-width:16em}
button.primary{background:#1565c0;color:#fff;border:0;border-radius:3px;padding:5px 12px}
button.danger{background:#c62828;color:#fff;border:0;border-radius:3px;padding:5px 12px}
.status-completed,.status-resolved{color:#2e7d32}.status-failed{color:#c62828}.status-skipped,.status-dismissed{color:#777}
.status-running,.status-queued{color:#1565c0}.status-held{color:#e65100;font-weight:600}
.held{border-color:#ffb74d;background:#fff8e1}
.pager{margin:8px 0}
.bar{display:flex;height:10px;border-radius:5px;overflow:hidden;background:#eee;max-width:480px}
.bar span{display:block}.bar .resolved{background:#43a047}.bar .failed{background:#e53935}.bar .pending{background:#1e88e5}.bar .held{background:#fb8c00}.bar .dismissed{background:#9e9e9e}
.w0{width:0}${Array.from({ length: 20 }, (_, i) => `.w${(i + 1) * 5}{width:${(i + 1) * 5}%}`).join('')}
`;

export const CONSOLE_CSS_VERSION = createHash('sha256').update(CONSOLE_CSS).digest('hex').slice(0, 12);
