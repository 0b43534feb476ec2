"""The files API in workerd: the local runtime's API tests, run against the Worker and R2.

Left out: tests that start a server with other settings (``make_server``) or plant files in
the local store by hand (deletion of derived objects is covered by the processing tests).
"""

from test_files_api import *  # noqa: F403 - the same tests, collected again with this folder's `api`

del test_links_expire  # noqa: F821 - needs its own server settings
del test_delete_removes_original_rows_and_derived_objects  # noqa: F821 - plants derived files on disk
del test_playable_and_direct_play_while_processing  # noqa: F821 - plants HLS files on disk
del test_downloads_leave_through_sendfile  # noqa: F821 - straces the local server process
# By design request.cf's country/continent replace client location hints in the Worker
# (asgi_bridge.py), and wrangler dev supplies a request.cf: the hint headers cannot steer it.
del test_regional_download_hosts  # noqa: F821
# The star import also brought the local runtime's module-scoped `api` fixture, which
# (being module-level) shadowed this folder's conftest `api`: the suite ran against the
# local server, not workerd. Drop it so the workerd stack's `api` is used.
del api  # noqa: F821
