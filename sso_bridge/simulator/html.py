"""The one page layout of the demo's two web sites (the simulated DR store, the merchant site).

Pages are Jinja templates rendered with Flask's autoescaping: every value a shopper typed is
escaped on output.
"""

from __future__ import annotations

from typing import Any

from flask import render_template_string

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ site }}: {{ title }}</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; color: #222; }
 header { border-bottom: 2px solid {{ colour }}; margin-bottom: 1rem; }
 header b { color: {{ colour }}; }
 form { display: grid; gap: .5rem; max-width: 20rem; }
 .error { color: #a00; } .who { font-weight: bold; }
</style></head>
<body><header><b>{{ site }}</b> &middot; {{ title }}</header>
{% if message %}<p class="error" role="alert">{{ message }}</p>{% endif %}
"""


def page(site: str, colour: str, title: str, body: str, **values: Any) -> str:
    """Render ``body`` (a Jinja template) inside the layout, with ``values`` autoescaped."""
    return render_template_string(
        _LAYOUT + body + "</body></html>", site=site, colour=colour, title=title, **values
    )
