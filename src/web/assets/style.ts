/** The page's stylesheet (served as /assets/web.css): plain CSS, colours with at least 4.5:1 contrast for text. */
export const STYLESHEET = `
:root {
  --bg: #f7f7f8; --fg: #1b1c1f; --muted: #555a64; --card: #ffffff; --line: #d5d8de; --accent: #0b57d0;
  --ok: #0f6b2f; --ok-bg: #dff3e4; --bad: #a4161a; --bad-bg: #fde2e1; --run: #7a4b00; --run-bg: #fff1cc;
  --wait: #5b2a86; --wait-bg: #efe3fb; --idle: #44474e; --idle-bg: #e8eaed;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.45; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible {
  outline: 3px solid var(--accent); outline-offset: 2px;
}
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: 0.5rem; }
.skip:focus { left: 0.5rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
header.top { display: flex; align-items: center; gap: 1.5rem; padding: 0.6rem 1.5rem; background: #1b1c1f; color: #fff; }
header.top a { color: #fff; text-decoration: none; margin-right: 1rem; }
header.top .brand { font-weight: 700; }
header.top .live-state { margin: 0 0 0 auto; font-size: 0.85rem; color: #d5d8de; }
header.top form { margin: 0; }
button.link { background: none; border: none; color: #fff; text-decoration: underline; cursor: pointer; font: inherit; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.4rem; word-break: break-all; }
h2 { font-size: 1.1rem; margin-top: 1.5rem; }
h3 { font-size: 1rem; margin: 0 0 0.5rem; display: flex; align-items: center; gap: 0.5rem; }
.muted { color: var(--muted); }
.notice { background: var(--wait-bg); color: var(--wait); padding: 0.5rem 0.75rem; border-radius: 6px; }
.error { color: var(--bad); }
div.error { background: var(--bad-bg); padding: 0.5rem 0.75rem; border-radius: 6px; }
div.error p { margin: 0.25rem 0; }
.badge { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px; font-size: 0.8rem; font-weight: 600;
  background: var(--idle-bg); color: var(--idle); white-space: nowrap; }
.s-succeeded, .s-reused, .s-cached, .s-workflow-started, .s-prediction-created { background: var(--ok-bg); color: var(--ok); }
.s-failed, .s-canceled, .s-aborted, .s-timed-out, .s-terminated, .s-ended, .s-not-kept { background: var(--bad-bg); color: var(--bad); }
.s-running, .s-processing, .s-starting, .s-creating, .s-saving-outputs { background: var(--run-bg); color: var(--run); }
.s-queued, .s-waiting { background: var(--wait-bg); color: var(--wait); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0.5rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
dl.facts.small { font-size: 0.9rem; }
.actions { display: flex; align-items: center; gap: 1rem; margin: 0.75rem 0; flex-wrap: wrap; }
form.action { display: inline-flex; gap: 0.5rem; align-items: center; margin: 0.25rem 0; }
button { font: inherit; padding: 0.35rem 0.9rem; border-radius: 6px; border: 1px solid var(--line); background: var(--card); cursor: pointer; }
button.danger { border-color: var(--bad); color: var(--bad); }
form.filters { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: end; margin-bottom: 1rem; }
form.filters label { display: flex; flex-direction: column; font-size: 0.85rem; color: var(--muted); }
input, select { font: inherit; padding: 0.3rem 0.4rem; border: 1px solid #8a8f98; border-radius: 4px; background: #fff; color: var(--fg); }
table.list { width: 100%; border-collapse: collapse; background: var(--card); }
table.list th, table.list td { text-align: left; padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
table.list td.thumb { width: 72px; }
img.thumb { width: 64px; height: 64px; object-fit: cover; border-radius: 4px; display: block; }
.kind { font-size: 0.75rem; text-transform: uppercase; color: var(--muted); }
ul.step-summary { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; }
svg.graph { max-width: 100%; height: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
svg.graph .edge { fill: none; stroke: #8a8f98; stroke-width: 1.5; }
svg.graph .arrow { fill: #8a8f98; }
svg.graph rect.node { fill: var(--idle-bg); stroke: var(--idle); stroke-width: 1.5; }
svg.graph rect.s-succeeded, svg.graph rect.s-reused, svg.graph rect.s-cached { fill: var(--ok-bg); stroke: var(--ok); }
svg.graph rect.s-failed, svg.graph rect.s-canceled, svg.graph rect.s-timed-out, svg.graph rect.s-terminated { fill: var(--bad-bg); stroke: var(--bad); }
svg.graph rect.s-running, svg.graph rect.s-processing, svg.graph rect.s-starting, svg.graph rect.s-saving-outputs { fill: var(--run-bg); stroke: var(--run); }
svg.graph rect.s-queued, svg.graph rect.s-waiting { fill: var(--wait-bg); stroke: var(--wait); }
svg.graph .node-name { font-weight: 700; font-size: 14px; fill: var(--fg); }
svg.graph .node-status { font-size: 12px; fill: var(--muted); }
svg.graph a:focus-visible rect { stroke-width: 4; }
ol.steps { list-style: none; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1rem; }
ol.steps > li > section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem 1rem; height: 100%; }
ul.children { padding-left: 1.1rem; font-size: 0.9rem; }
ul.children li { margin: 0.2rem 0; }
.log-line { display: block; color: var(--muted); white-space: pre; overflow-x: auto; }
.outputs { display: flex; flex-wrap: wrap; gap: 0.75rem; margin-top: 0.5rem; }
figure.file { margin: 0; max-width: 100%; }
figure.file img { max-width: 300px; max-height: 300px; display: block; border-radius: 4px; background: #e8eaed; }
figure.file video { max-width: 420px; display: block; }
figcaption { font-size: 0.8rem; word-break: break-all; }
pre.text, pre.logs { white-space: pre-wrap; word-break: break-word; background: #f0f1f3; padding: 0.5rem; border-radius: 4px; max-height: 24rem; overflow: auto; margin: 0.25rem 0; }
pre.logs { background: #1b1c1f; color: #e8eaed; }
details.json summary { cursor: pointer; color: var(--accent); }
.columns { display: grid; grid-template-columns: minmax(240px, 1fr) 2fr; gap: 1.5rem; }
ol.timeline { list-style: none; padding: 0; }
ol.timeline li { margin: 0.3rem 0; }
div.approval { border-left: 4px solid var(--wait); background: var(--wait-bg); padding: 0.5rem 0.75rem; border-radius: 4px; margin: 0.5rem 0; }
div.approval p { margin: 0.25rem 0; }
p.command { font-size: 0.85rem; color: var(--muted); }
p.command code { color: var(--fg); overflow-wrap: anywhere; }
p.decision.ok { color: var(--ok); }
p.decision.bad { color: var(--bad); }
ul.reused { padding-left: 1.1rem; font-size: 0.9rem; color: var(--ok); }
form.login { display: flex; flex-direction: column; gap: 0.75rem; max-width: 22rem; }
@media (max-width: 700px) { .columns { grid-template-columns: 1fr; } }
`;
