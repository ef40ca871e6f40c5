"""The page shell shared by the evaluation report and the ranked-cohort page: self-contained, no external assets."""

from __future__ import annotations

import html

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --accent:#2f6fdd; --good:#1b873f; --bad:#c0392b;
        --bg:#f7f8fa; --card:#ffffff; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color:var(--ink); background:var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 18px 0 8px; color: var(--ink); }
.sub { color: var(--muted); margin: 0 0 14px; }
.banner { background:#fff4e5; border:1px solid #f0b861; border-left:6px solid #e69500; padding:12px 16px;
          border-radius:6px; margin:14px 0; }
.banner b { color:#8a4b00; }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap:12px; margin: 12px 0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .v { font-size:24px; font-weight:600; }
.card .ci { color:var(--muted); font-size:13px; }
.grid2 { display:grid; grid-template-columns: 1fr 1fr; gap:14px; }
.panel { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px; }
img.plot { width:100%; height:auto; display:block; }
table { border-collapse: collapse; width:100%; background:var(--card); font-size:13.5px; margin: 6px 0 12px; }
th, td { padding:6px 9px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th { background:#eef1f5; font-weight:600; color:#3e4c59; white-space:normal; vertical-align:bottom; }
th:first-child, td:first-child { text-align:left; }
tr.hl td { background:#eef5ff; font-weight:600; }
.good { color:var(--good); } .bad { color:var(--bad); } .muted { color:var(--muted); }
.strip { display:flex; flex-wrap:wrap; gap:3px; align-items:flex-end; }
.strip figure { margin:0; text-align:center; font-size:10.5px; color:var(--muted); }
.strip img { display:block; border-radius:3px; }
.attr { height:8px; border-radius:2px; margin-top:2px; }
.emb { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:8px 10px; margin:8px 0; }
.emb .hd { font-size:13px; margin-bottom:4px; }
.notes li { color:var(--muted); margin: 3px 0; }
.legend { font-size:12px; color:var(--muted); }
.pb { display:flex; align-items:center; gap:6px; justify-content:flex-end; }
.pb i { display:block; width:70px; height:8px; background:var(--line); border-radius:4px; }
.pb i b { display:block; height:8px; background:var(--accent); border-radius:4px; }
@media (max-width: 860px) { .grid2 { grid-template-columns: 1fr; } }
"""


def page(title: str, body: str, subtitle: str = "") -> str:
    """A complete HTML document; ``body`` is trusted HTML built by the report modules."""
    sub = f'<p class="sub">{html.escape(subtitle)}</p>' if subtitle else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{sub}{body}</main></body></html>\n"
    )


SIMULATED_BANNER = (
    "<div class='banner'><b>Research software, not a medical device.</b> Scores come from a model trained "
    "on <b>simulated</b> embryos: they mean nothing clinically and must not guide any real transfer "
    "decision. On real recordings this page only demonstrates that the formats load and how fast.</div>"
)
