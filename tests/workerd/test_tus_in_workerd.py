"""tus 1.0 conformance in workerd: the local runtime's protocol tests, run against the Worker.

Left out: tests that start a server with other settings (``make_server``) or check the local
server's static-file headers (Workers Assets serves the web app here).
"""

from test_tus_protocol import *  # noqa: F403 - the same tests, collected again with this folder's `server`

del test_configured_max_size_applies_to_deferred_uploads  # noqa: F821 - needs its own server settings
del test_web_app_html_is_revalidated_and_assets_cached  # noqa: F821 - local static files, not Workers Assets
