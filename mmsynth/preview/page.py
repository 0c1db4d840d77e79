"""The page itself: the jinja2 template with autoescaping, its own style and script, and the
Content-Security-Policy that allows only those (by hash) and ``data:`` images."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections import Counter
from importlib import resources
from typing import Any

import mmsynth.preview as caps
from mmsynth.preview.cards import record_view, reject_view
from mmsynth.preview.plots import plots
from mmsynth.preview.read import RunView
from mmsynth.preview.values import Skips, _label, _text

# -- the page -------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { margin: 0 0 .3em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.summary td, .skipped td { padding: 1px 10px 1px 0; } .note { color: #666; font-style: italic; }
.skipped td:last-child { text-align: right; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots img { border: 1px solid #ddd; background: white; max-width: 100%; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 14px; }
.card { background: white; border: 1px solid #ddd; border-radius: 6px; padding: 10px;
        overflow-wrap: anywhere; }
.card.reject { border-color: #c44e52; }
.id { font: 12px monospace; color: #555; margin-bottom: 4px; }
.reason { font-weight: bold; color: #c44e52; }
.figure { position: relative; line-height: 0; margin-bottom: 6px; }
.figure img { width: 100%; height: auto; border: 1px solid #eee; }
.figure svg.boxes { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.noimage { padding: 2em; background: #eee; color: #777; text-align: center; }
.turn { margin: 3px 0; padding: 4px 6px; border-radius: 4px; white-space: pre-wrap; }
.turn.human { background: #eef3fb; } .turn.gpt { background: #f1f8ef; }
table.pair { width: 100%; table-layout: fixed; } table.pair td { white-space: pre-wrap; }
table.pair td.chosen { background: #f1f8ef; } table.pair td.rejected { background: #fbefef; }
table.pair mark.chosen { background: #b8e0b0; } table.pair mark.rejected { background: #f2b8b8; }
table.qa, table.meta { border-collapse: collapse; width: 100%; font-size: 12px; margin-top: 6px; }
table.qa td, table.qa th, table.meta td { border: 1px solid #e3e3e3; padding: 2px 4px;
  vertical-align: top; }
table.qa td:first-child { width: 45%; } table.qa td { overflow-wrap: normal; }
pre { font-size: 11px; max-height: 300px; overflow: auto; background: #f6f6f6; }
.clip { font-size: 13px; } .caption { color: #555; font-style: italic; margin: 4px 0; }
.detail, .reply { font-size: 12px; white-space: pre-wrap; margin: 4px 0; }
"""

# Counted after load, for the headless-browser test (and anyone curious): broken images show
# naturalWidth 0 once loading is over.
SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  var b = document.body;
  b.setAttribute("data-images", images.length);
  b.setAttribute("data-broken-images", broken.length);
  b.setAttribute("data-plots", document.querySelectorAll("img.plot").length);
  b.setAttribute("data-box-overlays", document.querySelectorAll("svg.boxes").length);
  b.setAttribute("data-region-marks", document.querySelectorAll("svg.boxes .region").length);
  b.setAttribute("data-ready", "1");
});
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii")


# Nothing from the network, no plugins, no forms; only this script and this style (by hash) and
# data: images. Should a payload ever get past the escaping, the browser still refuses to run it.
CSP = (f"default-src 'none'; img-src data:; style-src '{_sha256(_CSS)}'; "
       f"script-src '{_sha256(SCRIPT)}'; base-uri 'none'; form-action 'none'")


def _template():
    import jinja2
    from markupsafe import Markup

    def escape(value: Any) -> Any:
        # The entities html.escape writes (&#x27;, &quot;), which the page has always used and
        # people grep for; markupsafe's own (&#39;, &#34;) are as safe but spelled differently.
        return value if hasattr(value, "__html__") else Markup(html.escape(str(value)))

    # Autoescaping on for the whole page: every value from the run folder is escaped by default;
    # only the page's own constants (style, script, policy) are marked safe, in render_page.
    env = jinja2.Environment(autoescape=True, finalize=escape, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    text = resources.files(__package__).joinpath("page.html.j2").read_text(encoding="utf-8")
    return env.from_string(text)


def render_page(view: RunView, records: list[dict[str, Any]],
                skipped: Skips | None = None) -> str:
    """The whole HTML page. ``skipped``, when given, receives every count the page shows (the
    view's and what rendering itself skips); the view is left as it is."""
    from markupsafe import Markup

    skipped = Counter() if skipped is None else skipped
    skipped.update(view.skipped)
    config = view.run.get("config", {})
    source = _label(config.get("source", "?"), 200)
    plot_tags, notes = plots(view)
    cards = [record_view(r, skipped) for r in records]
    rejects = [reject_view(e, skipped) for e in view.rejects[:caps.MAX_REJECTS_SHOWN]]
    summary = [
        ("output", str(view.out)), ("source", source),
        ("kept", view.totals.get("kept", "?")), ("rejected", view.totals.get("rejected", "?")),
        *([("removed by dedup", f"{view.removed_by_dedup} (in dedup.json; not shown, not in "
            "the plots; --keep_duplicates shows them)")]
          if view.removed_by_dedup is not None else []),
        ("fingerprint", _text(view.run.get("fingerprint", "?"), 200)),
        ("mmsynth", _text(view.run.get("versions", {}).get("mmsynth", "?"), 200)),
        ("config", _text(json.dumps(config, sort_keys=True, default=str))),
    ]
    return _template().render(
        css=Markup(_CSS), script=Markup(SCRIPT), csp=Markup(CSP),
        title=f"mmsynth preview: {source} ({view.out.name})", source=source, summary=summary,
        skipped=sorted(skipped.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])),
        skipped_total=sum(skipped.values()), plots=plot_tags, notes=notes, records=cards,
        total=len(view.keys), rejects=rejects, rejected=view.totals.get("rejected", 0))

