"""The two pages the AMS and the LMS show outside any tenant: their root, and "no such tenant".

Neither belongs to a tenant, so neither wears a tenant's branding. They are plain HTML for a person
who typed a URL; :mod:`simulator.core.web` decides when a client gets them rather than JSON
(:func:`simulator.core.web.wants_html_page`).

Example::

    html = no_such_tenant_html("ghost", console_url="http://127.0.0.1:8000")
"""

from __future__ import annotations

from flask import render_template_string

DEMO_TENANT_PATH = "/t/demo/"

_LAYOUT = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }} · AMS–LMS Integration Sandbox</title>
  <style>
    body { font-family: system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
    header { background: #3b4252; color: #fff; padding: 1rem 1.5rem; }
    main { max-width: 36rem; margin: 2rem auto; background: #fff; padding: 1.5rem 2rem;
           border-radius: .5rem; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
    li { margin: .4rem 0; }
  </style>
</head>
<body>
  <header>AMS–LMS Integration Sandbox · {{ app_title }}</header>
  <main>
    <h1>{{ title }}</h1>
    <p id="message">{{ message }}</p>
    <ul>
      <li><a id="demo-link" href="{{ demo_path }}">The demo tenant</a> ({{ demo_path }})</li>
      <li><a id="console-link" href="{{ console_url }}">The console</a>, which lists every tenant and
          creates new ones</li>
      <li><a href="/docs">This app's API documentation</a></li>
    </ul>
  </main>
</body>
</html>"""


def no_such_tenant_html(tenant_id: str, app_title: str, console_url: str) -> str:
    """The 404 page for a URL under ``/t/{tenant_id}/`` when there is no such tenant."""
    return render_template_string(
        _LAYOUT,
        title="No such tenant",
        app_title=app_title,
        message=f"There is no tenant '{tenant_id}' in this sandbox: check the address, or pick a tenant.",
        demo_path=DEMO_TENANT_PATH,
        console_url=console_url,
    )


def root_html(app_title: str, console_url: str) -> str:
    """The page at ``/``: every page of the AMS and the LMS lives under a tenant, ``/t/{tenant}/``."""
    return render_template_string(
        _LAYOUT,
        title=app_title,
        app_title=app_title,
        message="Every page here belongs to a tenant, at /t/{tenant}/. Start with one of these:",
        demo_path=DEMO_TENANT_PATH,
        console_url=console_url,
    )
