"""The OpenAPI 3.1 description of the whole HTTP API, served at ``GET /api/openapi.json``.

A plain dict (no YAML dependency). ``tests/test_openapi.py`` validates it and checks that
every route of the app is described and every described operation is routed, so the spec
cannot drift from the code. Operations counted against a rate limit get their 429 from
:func:`mediagate.ratelimit.budgets_for`, the same rule the middleware applies.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import contracts
from ..ratelimit import budgets_for
from ..tus.protocol import CHECKSUM_ALGORITHMS, EXTENSIONS, TUS_VERSION
from ..webhooks import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from ..webhooks.outbox import MAX_LISTED

JSON = "application/json"
OCTET = "application/offset+octet-stream"
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
PUBLIC: list[dict[str, list[str]]] = []

FILE_TYPES = list(contracts.FILE_TYPES)
PROCESSING_STATUSES = list(contracts.PROCESSING_STATUSES)
JOB_STATUSES = list(contracts.JOB_STATUSES)


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema(name: str) -> dict[str, str]:
    return ref("schemas", name)


def json_body(s: dict[str, Any], description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"content": {JSON: {"schema": s}}}
    if description:
        out["description"] = description
    return out


def ok(description: str, s: dict[str, Any] | None = None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if s is not None:
        out["content"] = {JSON: {"schema": s}}
    if headers:
        out["headers"] = headers
    return out


def error(description: str, headers: dict[str, Any] | None = None, *, body: bool = True) -> dict[str, Any]:
    """A refusal: ``{"error": message}`` (no body for HEAD)."""
    return ok(description, schema("Error") if body else None, headers)


def header(name: str) -> dict[str, str]:
    return ref("headers", name)


def param(name: str) -> dict[str, str]:
    return ref("parameters", name)


def path_param(name: str, description: str, s: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": s or {"type": "string"},
    }


def header_param(
    name: str, description: str, s: dict[str, Any] | None = None, *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": s or {"type": "string"},
    }


def op(
    op_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, list[str]]] | None = None,
    description: str = "",
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag]}
    if description:
        out["description"] = description
    if parameters:
        out["parameters"] = parameters
    if body:
        out["requestBody"] = body
    sec = BEARER if security is None else security
    out["security"] = sec
    if sec:  # every authenticated operation may answer 401
        responses = {**responses, "401": ref("responses", "Unauthorized")}
    out["responses"] = dict(sorted(responses.items()))
    return out


# -- tus ------------------------------------------------------------------------------

BINARY = {"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}
CONTENT_RANGE = {"Content-Range": {"schema": {"type": "string"}}}


def ranged_read(op_id: str, summary: str, tag: str, whole: dict[str, Any], refusals: dict[str, str]) -> dict[str, Any]:
    """A public GET of stored bytes with HTTP Range: ``whole`` (the 200), the 206 of one
    range, ``refusals`` (status -> why) and the 416."""
    responses = {
        "200": whole,
        "206": {"description": "The requested byte range", "headers": CONTENT_RANGE, "content": BINARY},
        **{status: error(why) for status, why in refusals.items()},
        "416": error("Range not satisfiable", CONTENT_RANGE),
    }
    return op(op_id, summary, tag, responses, security=PUBLIC, parameters=[header_param("Range", "One `bytes=` range")])


def ranged_head(op_id: str, summary: str, tag: str, whole: str, refusals: dict[str, str]) -> dict[str, Any]:
    """The HEAD beside :func:`ranged_read`: the same answers without bodies (``whole``: the 200's)."""
    responses = {
        "200": {"description": whole},
        "206": {"description": "The range's headers (no body)"},
        **{status: error(why, body=False) for status, why in refusals.items()},
        "416": error("Range not satisfiable", body=False),
    }
    return op(op_id, summary, tag, responses, security=PUBLIC, parameters=[header_param("Range", "One `bytes=` range")])


TUS_RESUMABLE_REQUIRED = param("TusResumable")
TUS_HEADERS_412 = error(
    f"`Tus-Resumable` is missing or not {TUS_VERSION}", {"Tus-Version": header("TusVersion")}, body=True
)


def _tus_options(op_id: str) -> dict[str, Any]:
    return op(
        op_id,
        "tus discovery: versions, extensions, limits",
        "uploads",
        {
            "204": ok(
                "Server capabilities",
                headers={
                    "Tus-Resumable": header("TusResumable"),
                    "Tus-Version": header("TusVersion"),
                    "Tus-Extension": header("TusExtension"),
                    "Tus-Max-Size": header("TusMaxSize"),
                    "Tus-Checksum-Algorithm": header("TusChecksumAlgorithm"),
                },
            )
        },
        security=PUBLIC,
        description=(
            "A browser's CORS preflight (with `Origin` and `Access-Control-Request-Method`) is answered by "
            "the CORS layer instead."
        ),
    )


def _tus_create(op_id: str, summary: str) -> dict[str, Any]:
    return op(
        op_id,
        summary,
        "uploads",
        {
            "201": ok(
                "Upload created (and, with a body, its first bytes stored)",
                headers={
                    "Location": {"description": "The upload's URL", "schema": {"type": "string", "format": "uri"}},
                    "Upload-Offset": header("UploadOffset"),
                    "Upload-Expires": header("UploadExpires"),
                    "Tus-Resumable": header("TusResumable"),
                },
            ),
            "400": error("Bad `Upload-Length`/`Upload-Defer-Length`/`Upload-Metadata`/`Upload-Checksum`"),
            "409": error("creation-with-upload: the body conflicted with the upload's state"),
            "412": TUS_HEADERS_412,
            "413": error("`Upload-Length` (or the body) exceeds `Tus-Max-Size`"),
            "415": error(f"A body was sent with a Content-Type other than `{OCTET}`"),
            "423": error("creation-with-upload: the upload is locked", {"Retry-After": header("RetryAfter")}),
            "460": error("creation-with-upload: `Upload-Checksum` does not match the body (tus Checksum Mismatch)"),
        },
        description=(
            "tus 1.0.0 creation. Send exactly one of `Upload-Length` or `Upload-Defer-Length: 1`. "
            "`Upload-Metadata` may carry `filename`, `filetype` and processing options (`colorspace`). "
            "With a body (creation-with-upload) the first chunk is stored in the same request."
        ),
        parameters=[
            TUS_RESUMABLE_REQUIRED,
            param("UploadLength"),
            param("UploadDeferLength"),
            param("UploadMetadata"),
            param("UploadChecksum"),
            header_param("Content-Type", f"`{OCTET}` when the request has a body"),
        ],
        body={
            "required": False,
            "content": {OCTET: {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}},
        },
    )


UPLOAD_ID = path_param("upload_id", "The upload's id (the last segment of `Location`)")

TUS_HEAD = op(
    "getUploadOffset",
    "tus: the upload's offset (where to resume)",
    "uploads",
    {
        "200": ok(
            "The upload's state (no body)",
            headers={
                "Upload-Offset": header("UploadOffset"),
                "Upload-Length": header("UploadLength"),
                "Upload-Defer-Length": {"description": "`1` while the length is deferred", "schema": {"const": "1"}},
                "Upload-Metadata": {"description": "As sent at creation", "schema": {"type": "string"}},
                "Upload-Expires": header("UploadExpires"),
                "Mediagate-File-Id": {
                    "description": "Once the upload is complete: the id of the file it became (GET /api/files/{id})",
                    "schema": {"type": "string", "format": "uuid"},
                },
                "Cache-Control": {"schema": {"const": "no-store"}},
                "Tus-Resumable": header("TusResumable"),
            },
        ),
        "404": error("No such upload for this user (or terminated)", body=False),
        "410": error("The upload expired", body=False),
        "412": error(f"`Tus-Resumable` is missing or not {TUS_VERSION}", body=False),
    },
    parameters=[TUS_RESUMABLE_REQUIRED],
)

PATCH_RESPONSES = {
    "204": ok(
        "Bytes stored; `Upload-Offset` is the new offset. The last byte finishes the upload and queues processing.",
        headers={
            "Upload-Offset": header("UploadOffset"),
            "Upload-Expires": header("UploadExpires"),
            "Mediagate-File-Id": {
                "description": "On the last byte's answer: the id of the file the upload became",
                "schema": {"type": "string", "format": "uuid"},
            },
            "Tus-Resumable": header("TusResumable"),
        },
    ),
    "400": error("Missing or bad `Upload-Offset`, bad `Upload-Checksum`, or a checksummed body that ended early"),
    "404": error("No such upload for this user"),
    "409": error("`Upload-Offset` does not match the upload's offset, or the upload is already complete"),
    "410": error("The upload expired"),
    "412": TUS_HEADERS_412,
    "413": error("The body would go beyond `Upload-Length` or `Tus-Max-Size`"),
    "415": error(f"Content-Type is not `{OCTET}`"),
    "423": error("Another request holds the upload's lock", {"Retry-After": header("RetryAfter")}),
    "460": error("`Upload-Checksum` does not match the body (tus Checksum Mismatch); nothing was stored"),
}

TUS_PATCH = op(
    "patchUpload",
    "tus: append bytes at `Upload-Offset`",
    "uploads",
    PATCH_RESPONSES,
    parameters=[
        TUS_RESUMABLE_REQUIRED,
        header_param("Content-Type", f"Must be `{OCTET}`", {"const": OCTET}, required=True),
        header_param(
            "Upload-Offset", "The offset this body starts at", {"type": "integer", "minimum": 0}, required=True
        ),
        header_param("Content-Length", "The body's length", {"type": "integer", "minimum": 0}),
        param("UploadChecksum"),
        header_param(
            "Upload-Length",
            "Declares the length of an upload created with `Upload-Defer-Length: 1`",
            {"type": "integer", "minimum": 0},
        ),
    ],
    body={
        "required": True,
        "content": {OCTET: {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}},
    },
)

TUS_DELETE = op(
    "terminateUpload",
    "tus termination: remove an upload, finished or not",
    "uploads",
    {
        "204": ok(
            "Terminated. Unfinished: its stored bytes are removed. Completed: its file is deleted like "
            "`DELETE /api/files/{id}` (original, derived objects, rows, queued jobs). Later requests answer 404.",
            headers={"Tus-Resumable": header("TusResumable")},
        ),
        "404": error("No such upload for this user"),
        "410": error("The upload expired"),
        "412": TUS_HEADERS_412,
        "423": error("Another request holds the upload's lock", {"Retry-After": header("RetryAfter")}),
    },
    parameters=[TUS_RESUMABLE_REQUIRED],
)

TUS_GET = op(
    "getUploadNotAllowed",
    "An upload URL is not a download link: GET answers 405",
    "uploads",
    {"405": error("GET is not allowed on an upload", {"Allow": {"schema": {"type": "string"}}})},
    description="Use `HEAD` for the upload's state and `GET /api/files/{id}/download` for the file.",
    security=PUBLIC,
)

TUS_OVERRIDE = op(
    "overrideUpload",
    "tus: PATCH, HEAD or DELETE through POST",
    "uploads",
    {**PATCH_RESPONSES, "200": TUS_HEAD["responses"]["200"], "405": error("No or an unsupported method override")},
    description="For clients behind proxies that only pass GET and POST: the method comes from `X-HTTP-Method-Override`.",
    parameters=[
        TUS_RESUMABLE_REQUIRED,
        header_param(
            "X-HTTP-Method-Override", "The tus method to apply", {"enum": ["PATCH", "HEAD", "DELETE"]}, required=True
        ),
        header_param("Content-Type", f"`{OCTET}` for PATCH"),
        header_param("Upload-Offset", "For PATCH", {"type": "integer", "minimum": 0}),
        param("UploadChecksum"),
    ],
    body={
        "required": False,
        "content": {OCTET: {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}},
    },
)

# -- files ------------------------------------------------------------------------------

FILE_ID = path_param("file_id", "The file's id", {"type": "string", "format": "uuid"})
HOOK_ID = path_param("hook_id", "The registration's id", {"type": "string", "format": "uuid"})
REGION_PARAMS = [
    {
        "name": "region",
        "in": "query",
        "required": False,
        "description": "Force a download region by name",
        "schema": {"type": "string"},
    },
    header_param("X-Mediagate-Region", "Force a download region by name (wins over `region`)"),
    header_param("X-Mediagate-Country", "ISO country code of the caller (else `CF-IPCountry`)"),
    header_param("CF-IPCountry", "Set by Cloudflare"),
    header_param("X-Mediagate-Continent", "Continent code of the caller (EU, NA, AS, ...)"),
]
IDS_BODY = {"required": True, **json_body(schema("FileIds"))}

# -- webhooks ---------------------------------------------------------------------------

SIGNATURE_PARAMS = [
    header_param(ID_HEADER, "The event id: the same on every retry of one event (deduplicate on it)", required=True),
    header_param(TIMESTAMP_HEADER, "Unix seconds when the event was signed", {"type": "string"}, required=True),
    header_param(
        SIGNATURE_HEADER,
        "Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<raw body>`; "
        "several space-separated signatures are allowed",
        {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]{44}"},
        required=True,
    ),
]


def _user_webhook(event: str, summary: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"userWebhook_{event.replace('-', '_')}",
            "summary": summary,
            "tags": ["webhooks"],
            "description": (
                "Delivered to every URL a user registered (`POST /api/webhooks`) in the Standard Webhooks "
                "format (https://www.standardwebhooks.com/), signed with that registration's `whsec_` "
                "secret: any Standard Webhooks library verifies it. Events are queued with the status "
                "change and sent from an outbox: network errors, 5xx, 408 and 429 are retried with "
                "exponential backoff (same `webhook-id`) for up to a day; redirects are not followed. "
                "`GET /api/webhooks/{hook_id}/deliveries` shows each event's state."
            ),
            "parameters": SIGNATURE_PARAMS,
            "requestBody": {"required": True, **json_body(schema("UserEvent"))},
            "responses": {"2XX": {"description": "Received"}},
        }
    }


# -- the document ---------------------------------------------------------------------------


def _paths() -> dict[str, dict[str, Any]]:
    return {
        "/api/health": {
            "get": op(
                "health",
                "Liveness and database reachability",
                "meta",
                {
                    "200": ok("Healthy", schema("Health")),
                    "503": ok("The database is unreachable", schema("Health")),
                },
                security=PUBLIC,
            )
        },
        "/api/openapi.json": {
            "get": op(
                "openapi",
                "This document",
                "meta",
                {"200": ok("OpenAPI 3.1 description", {"type": "object"})},
                security=PUBLIC,
            )
        },
        "/api/upload": {
            "post": _tus_create("createUpload", "tus creation: start an upload"),
            "options": _tus_options("uploadOptions"),
        },
        "/api/upload/init": {
            "post": _tus_create("initUpload", "tus creation (alias of POST /api/upload)"),
            "options": _tus_options("uploadInitOptions"),
        },
        "/api/upload/{upload_id}": {
            "parameters": [UPLOAD_ID],
            "get": TUS_GET,
            "head": TUS_HEAD,
            "patch": TUS_PATCH,
            "delete": TUS_DELETE,
            "post": TUS_OVERRIDE,
            "options": _tus_options("uploadResourceOptions"),
        },
        "/api/files": {
            "get": op(
                "listFiles",
                "The caller's files (keyset pagination in every sort; trashed files only with `trashed=true`)",
                "files",
                {
                    "200": ok("One page", schema("FileList")),
                    "400": error("A bad parameter, or a `cursor` of another sort/order"),
                    "404": error("`album` is not the caller's"),
                },
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "description": "`next_cursor` of the previous page",
                        "schema": {"type": "string"},
                    },
                    {"name": "type", "in": "query", "schema": {"enum": FILE_TYPES}},
                    {"name": "status", "in": "query", "schema": {"enum": PROCESSING_STATUSES}},
                    {
                        "name": "q",
                        "in": "query",
                        "description": "Substring of the file name (`%` and `_` are literal)",
                        "schema": {"type": "string", "maxLength": 200},
                    },
                    *organize.SORT_PARAMS,
                    *organize.LIST_FILTERS,
                ],
            )
        },
        "/api/files/bulk-delete": {
            "post": op(
                "bulkDeleteFiles",
                "Move many files to the trash",
                "files",
                {
                    "200": ok("How many were trashed, their ids, and ids not found", schema("BulkDeleteResult")),
                    "400": error("The body is not JSON"),
                    "422": error("`ids` missing, empty, not UUIDs, or more than 500"),
                },
                body=IDS_BODY,
            )
        },
        "/api/files/batch-download": {
            "post": op(
                "batchDownload",
                "Download many files: signed links, or one streamed ZIP",
                "files",
                {
                    "200": {
                        "description": (
                            '`"mode": "links"`: JSON links. `"mode": "zip"` (the default): a store-only ZIP '
                            "(ZIP64 past 4 GiB) streamed with a known `Content-Length`."
                        ),
                        "headers": {
                            "Content-Disposition": {"description": "zip mode", "schema": {"type": "string"}},
                            "X-Mediagate-Missing": {
                                "description": "zip mode: comma-separated requested ids that were not found",
                                "schema": {"type": "string"},
                            },
                        },
                        "content": {
                            JSON: {"schema": schema("BatchLinks")},
                            "application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}},
                        },
                    },
                    "400": error("The body is not JSON"),
                    "404": error("None of the files exist"),
                    "422": error("Bad `ids` or `mode`"),
                },
                parameters=REGION_PARAMS,
                body={"required": True, **json_body(schema("BatchDownloadRequest"))},
            )
        },
        "/api/files/{file_id}": {
            "parameters": [FILE_ID],
            "get": op(
                "getFile",
                "One file with its media metadata",
                "files",
                {"200": ok("The file", schema("FileDetail")), "404": ref("responses", "NotFound")},
            ),
            "patch": op(
                "updateFile",
                "Rename (the display name downloads and ZIPs use) and/or (un)favourite",
                "files",
                {
                    "200": ok("The file", schema("FileDetail")),
                    "400": error("Not JSON"),
                    "404": ref("responses", "NotFound"),
                    "422": error("A bad field"),
                },
                body={"required": True, **json_body(schema("FileEdit"))},
            ),
            "delete": op(
                "deleteFile",
                "Move a file to the trash; `?permanent=true`: delete it, its original and derived objects now",
                "files",
                {"204": {"description": "Trashed (or deleted)"}, "404": ref("responses", "NotFound")},
                parameters=[
                    {"name": "permanent", "in": "query", "schema": {"enum": ["true", "false"], "default": "false"}}
                ],
            ),
        },
        "/api/files/{file_id}/preview": {
            "parameters": [FILE_ID],
            "get": op(
                "getPreview",
                "Signed links to the previews, thumbnail and HLS playlist",
                "files",
                {"200": ok("Preview links", schema("Preview")), "404": ref("responses", "NotFound")},
            ),
        },
        "/api/files/{file_id}/download": {
            "parameters": [FILE_ID],
            "get": op(
                "getDownloadLink",
                "A signed link to the original, on the nearest region",
                "files",
                {"200": ok("The link", schema("DownloadLink")), "404": ref("responses", "NotFound")},
                parameters=REGION_PARAMS,
            ),
        },
        "/api/objects/{token}/{path}": {
            "parameters": [
                path_param("token", "The link's signature (a JWT naming a key or key prefix)"),
                path_param("path", "The object's name under the link's scope; may contain `/`"),
            ],
            "get": ranged_read(
                "getObject",
                "A stored object behind a signed link (HTTP Range supported)",
                "objects",
                {
                    "description": "The whole object",
                    "headers": {
                        "Accept-Ranges": {"schema": {"const": "bytes"}},
                        "ETag": {"schema": {"type": "string"}},
                        "Content-Disposition": {
                            "description": "For download links: the original name (RFC 6266)",
                            "schema": {"type": "string"},
                        },
                    },
                    "content": BINARY,
                },
                {"403": "Invalid, tampered or expired link", "404": "No such object"},
            ),
            "head": ranged_head(
                "headObject",
                "Headers of a stored object behind a signed link",
                "objects",
                "The object's headers (no body)",
                {
                    "400": "A path with control characters or a segment longer than 255 characters",
                    "403": "Invalid, tampered or expired link",
                    "404": "No such object",
                },
            ),
        },
        "/api/webhooks": {
            "get": op(
                "listWebhooks",
                "The caller's webhook registrations",
                "webhooks",
                {"200": ok("Registrations (secrets are not shown again)", schema("WebhookList"))},
            ),
            "post": op(
                "registerWebhook",
                "Register a URL for the caller's processing events",
                "webhooks",
                {
                    "201": ok("Registered; keep `secret` to verify signatures", schema("WebhookCreated")),
                    "400": error("The body is not JSON"),
                    "422": error(
                        "`url` is not an absolute http(s) URL with a valid port and a public host "
                        "(loopback, private, link-local, CGNAT, metadata and other non-public addresses are refused)"
                    ),
                },
                description="Events are described under `webhooks` (`processing-complete`, `processing-failed`).",
                body={"required": True, **json_body(schema("WebhookRequest"))},
            ),
        },
        "/api/webhooks/{hook_id}/deliveries": {
            "parameters": [HOOK_ID],
            "get": op(
                "listWebhookDeliveries",
                "The registration's events and their delivery state, newest first",
                "webhooks",
                {
                    "200": ok("Events", schema("WebhookDeliveries")),
                    "400": error("`limit` is not a number from 1 to the maximum"),
                    "404": ref("responses", "NotFound"),
                },
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LISTED, "default": 50},
                    }
                ],
            ),
        },
        "/api/webhooks/{hook_id}": {
            "parameters": [HOOK_ID],
            "delete": op(
                "deleteWebhook",
                "Remove a webhook registration",
                "webhooks",
                {"204": {"description": "Removed"}, "404": ref("responses", "NotFound")},
            ),
        },
        "/webhook/{kind}": {
            "parameters": [
                path_param("kind", "The event", {"enum": ["processing-complete", "processing-failed"]}),
            ],
            "post": op(
                "processingEvent",
                "Processor → API: a job finished or failed (signed with WEBHOOK_SECRET)",
                "webhooks",
                {
                    "200": ok("Applied, or a duplicate of an applied event", schema("EventAck")),
                    "400": error("The body is not JSON with a string `id`, a UUID `file_id` and a string `error`"),
                    "401": error("Missing or bad signature, or a timestamp outside the tolerance (replay)"),
                    "404": error("Unknown event kind"),
                    "413": error("The body is larger than 64 KiB"),
                    "503": error("WEBHOOK_SECRET is not configured"),
                },
                security=PUBLIC,
                description="Each event `id` is applied once, so deliveries can be retried safely.",
                parameters=SIGNATURE_PARAMS,
                body={"required": True, **json_body(schema("ProcessingEvent"))},
            ),
        },
        "/api/admin/stats": {
            "get": op(
                "adminStats",
                "Queue, job and throughput statistics",
                "admin",
                {"200": ok("Statistics", schema("AdminStats")), "403": ref("responses", "Forbidden")},
            )
        },
        "/api/admin/jobs/{job_id}/retry": {
            "parameters": [path_param("job_id", "The processing job's id", {"type": "string", "format": "uuid"})],
            "post": op(
                "adminRetryJob",
                "Re-queue a failed job",
                "admin",
                {
                    "202": ok("Re-queued", schema("RetryAccepted")),
                    "400": error("The job id is not a UUID"),
                    "403": ref("responses", "Forbidden"),
                    "404": error("No such job"),
                    "409": error("The job is not failed (or its file is gone)"),
                    "503": error("The queue refused the message; the job stays failed"),
                },
                description=(
                    "The job goes back to `queued` (its error cleared, `attempts` kept), its file to "
                    "`pending`, and a new job message rebuilt from the file is queued."
                ),
            ),
        },
    }


def _components() -> dict[str, Any]:
    nullable_str = {"type": ["string", "null"]}
    nullable_time = {"type": ["string", "null"], "format": "date-time"}
    nullable_url = {"type": ["string", "null"], "format": "uri"}
    file_item = {
        "type": "object",
        # Every key is always present (files_routes.file_item); "nullable" says which may be null.
        "required": [
            "id",
            "name",
            "size",
            "type",
            "mime_type",
            "upload_status",
            "processing_status",
            "progress",
            "error",
            "thumbnail_url",
            "placeholder",
            "playable",
            "direct_play",
            "width",
            "height",
            "duration",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "type": {"enum": FILE_TYPES},
            "mime_type": {"type": "string"},
            "upload_status": nullable_str,
            "processing_status": {"enum": PROCESSING_STATUSES},
            "progress": {"type": "number", "minimum": 0, "maximum": 100},
            "error": nullable_str,
            "thumbnail_url": nullable_url,
            "placeholder": {
                "type": ["string", "null"],
                "description": "ThumbHash of the preview, base64 (decode client-side into a blurred placeholder)",
            },
            "playable": {
                "type": "boolean",
                "description": "Video: HLS is playable now (the lowest rung is published from its first segment, "
                "as a growing EVENT playlist, while the rest of the ladder encodes)",
            },
            "direct_play": {
                "type": ["boolean", "null"],
                "description": "Video: the browser can play the original itself (H.264/AAC MP4/MOV, VP9/AV1 WebM...): "
                "true/false once probed, null before (a container browsers often play: try, then fall back)",
            },
            "width": {"type": ["integer", "null"]},
            "height": {"type": ["integer", "null"]},
            "duration": {"type": ["number", "null"]},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            **organize.FILE_ITEM_PROPERTIES,
        },
    }
    download_link = {
        "type": "object",
        "required": ["id", "name", "size", "url", "expires_in"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "url": {"type": "string", "format": "uri"},
            "expires_in": {"type": "integer", "description": "Seconds the link stays valid"},
            "region": {"type": "string"},
            "region_reason": {"type": "string"},
        },
    }
    processing_event = {
        "type": "object",
        "required": ["id", "event", "file_id"],
        "properties": {
            "id": {"type": "string", "description": "`<job_id>:<event>`; apply once"},
            "event": {"enum": ["processing-complete", "processing-failed"]},
            "job_id": {"type": "string", "format": "uuid"},
            "file_id": {"type": "string", "format": "uuid"},
            "user_id": {"type": "string", "format": "uuid"},
            "filename": {"type": "string"},
            "file_type": {"enum": FILE_TYPES},
            "occurred_at": {"type": "integer", "description": "Unix seconds"},
            "status": {"enum": ["completed", "failed"]},
            "error": {"type": "string", "description": "processing-failed: why"},
            "attempts": {"type": "integer", "description": "processing-failed: attempts made"},
            "preview_key": nullable_str,
            "thumbnail_key": nullable_str,
            "hls_playlist_key": nullable_str,
            "placeholder": nullable_str,
        },
    }
    return {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": 'HS256 JWT signed with JWT_SECRET: `sub` is the user id (UUID), `role` "user" or "admin".',
            }
        },
        "headers": {
            "TusResumable": {"description": "The tus version", "schema": {"const": TUS_VERSION}},
            "TusVersion": {"description": "Supported tus versions", "schema": {"type": "string"}},
            "TusExtension": {
                "description": "Supported extensions",
                "schema": {"type": "string", "examples": [",".join(EXTENSIONS)]},
            },
            "TusMaxSize": {"description": "Largest upload in bytes", "schema": {"type": "integer"}},
            "TusChecksumAlgorithm": {
                "description": "Supported `Upload-Checksum` algorithms",
                "schema": {"type": "string", "examples": [",".join(CHECKSUM_ALGORITHMS)]},
            },
            "UploadOffset": {"description": "Bytes stored so far", "schema": {"type": "integer", "minimum": 0}},
            "UploadLength": {"description": "The upload's total size", "schema": {"type": "integer", "minimum": 0}},
            "UploadExpires": {
                "description": "When an unfinished upload expires (RFC 7231 date)",
                "schema": {"type": "string"},
            },
            "RetryAfter": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}},
            "RateLimitLimit": {"description": "Requests allowed per window", "schema": {"type": "integer"}},
            "RateLimitRemaining": {"description": "Requests left in the window", "schema": {"type": "integer"}},
            "RateLimitReset": {"description": "Seconds until the window resets", "schema": {"type": "integer"}},
        },
        "parameters": {
            "TusResumable": header_param("Tus-Resumable", "The tus version", {"const": TUS_VERSION}, required=True),
            "UploadLength": header_param(
                "Upload-Length", "The upload's size in bytes", {"type": "integer", "minimum": 0}
            ),
            "UploadDeferLength": header_param(
                "Upload-Defer-Length", "`1`: the length is sent later (with a PATCH)", {"const": "1"}
            ),
            "UploadMetadata": header_param(
                "Upload-Metadata",
                "Comma-separated `key base64(value)` pairs (at most 8 KiB): `filename`, `filetype`, `colorspace`",
            ),
            "UploadChecksum": header_param(
                "Upload-Checksum",
                f"`<algorithm> <base64 digest>` of this request's body; algorithms: {', '.join(CHECKSUM_ALGORITHMS)}",
            ),
        },
        "responses": {
            "Unauthorized": error(
                "Missing, malformed, expired or badly signed bearer token",
                {"WWW-Authenticate": {"schema": {"type": "string"}}},
            ),
            "Forbidden": error("The token is valid but lacks the admin role"),
            "NotFound": error("Not found (other users' resources are never revealed)"),
            "TooManyRequests": error(
                "Rate limit exceeded (per user, or per address without a token)",
                {
                    "Retry-After": header("RetryAfter"),
                    "RateLimit-Limit": header("RateLimitLimit"),
                    "RateLimit-Remaining": header("RateLimitRemaining"),
                    "RateLimit-Reset": header("RateLimitReset"),
                },
            ),
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "Health": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"enum": ["ok", "unavailable"]}, "database": {"type": "string"}},
            },
            "FileItem": file_item,
            "FileDetail": {
                "allOf": [
                    {"$ref": "#/components/schemas/FileItem"},
                    {
                        "type": "object",
                        "properties": {"metadata": {"type": "object", "description": "Media metadata from processing"}},
                    },
                ]
            },
            "FileList": {
                "type": "object",
                "required": ["items", "next_cursor"],
                "properties": {
                    "items": {"type": "array", "items": schema("FileItem")},
                    "next_cursor": {"type": ["string", "null"]},
                },
            },
            "Preview": {
                "type": "object",
                "required": [  # every key is always present (files_routes.preview)
                    "id",
                    "type",
                    "processing_status",
                    "placeholder",
                    "preview_url",
                    "thumbnail_url",
                    "hls_url",
                    "playable",
                    "direct_play",
                    "direct_url",
                    "progress",
                    "variants",
                    "expires_in",
                ],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "type": {"enum": FILE_TYPES},
                    "processing_status": {"enum": PROCESSING_STATUSES},
                    "placeholder": nullable_str,
                    "preview_url": nullable_url,
                    "thumbnail_url": nullable_url,
                    "hls_url": nullable_url,
                    "playable": {"type": "boolean"},
                    "direct_play": {"type": ["boolean", "null"]},
                    "direct_url": {
                        **nullable_url,
                        "description": "Signed inline link (Range) to the original, unless it cannot be played as is",
                    },
                    "progress": {"type": "number", "minimum": 0, "maximum": 100},
                    "variants": {"type": "object", "additionalProperties": {"type": "string", "format": "uri"}},
                    "expires_in": {"type": "integer"},
                },
            },
            "DownloadLink": download_link,
            "FileIds": {
                "type": "object",
                "required": ["ids"],
                "properties": {
                    "ids": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 500,
                        "items": {"type": "string", "format": "uuid"},
                    }
                },
            },
            "BulkDeleteResult": {
                "type": "object",
                "properties": {
                    "trashed": {"type": "integer"},
                    "ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                    "not_found": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                },
            },
            "BatchDownloadRequest": {
                "allOf": [
                    {"$ref": "#/components/schemas/FileIds"},
                    {
                        "type": "object",
                        "properties": {"mode": {"enum": ["links", "zip"], "default": "zip"}},
                    },
                ]
            },
            "BatchLinks": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": schema("DownloadLink")},
                    "not_found": {"type": "array", "items": {"type": "string", "format": "uuid"}},
                },
            },
            "WebhookRequest": {
                "type": "object",
                "required": ["url"],
                "properties": {"url": {"type": "string", "format": "uri", "maxLength": 2000}},
            },
            "WebhookCreated": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "url": {"type": "string", "format": "uri"},
                    "secret": {
                        "type": "string",
                        "pattern": "^whsec_",
                        "description": "Shown once: the Standard Webhooks secret (`whsec_<base64 key>`)",
                    },
                },
            },
            "WebhookList": {
                "type": "object",
                "properties": {
                    "webhooks": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "format": "uuid"},
                                "url": {"type": "string", "format": "uri"},
                            },
                        },
                    }
                },
            },
            "ProcessingEvent": processing_event,
            "UserEvent": {
                "type": "object",
                "required": ["type", "timestamp", "data"],
                "properties": {
                    "type": {"enum": ["processing-complete", "processing-failed"]},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "data": {
                        "type": "object",
                        "properties": {
                            "file_id": {"type": "string", "format": "uuid"},
                            "job_id": {"type": "string", "format": "uuid"},
                            "filename": nullable_str,
                            "file_type": {"enum": FILE_TYPES},
                            "status": {"enum": ["completed", "failed"]},
                            "error": {**nullable_str, "description": "processing-failed: why"},
                            "attempts": {"type": "integer", "description": "processing-failed: attempts made"},
                            "preview_key": nullable_str,
                            "thumbnail_key": nullable_str,
                            "hls_playlist_key": nullable_str,
                            "placeholder": nullable_str,
                        },
                    },
                },
            },
            "WebhookDeliveries": {
                "type": "object",
                "properties": {
                    "deliveries": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "event_id": {"type": "string", "description": "The `webhook-id` header"},
                                "type": {"enum": ["processing-complete", "processing-failed"]},
                                "state": {
                                    "enum": ["pending", "delivered", "failed"],
                                    "description": "failed: given up (a final answer, or attempts/age used up)",
                                },
                                "attempts": {"type": "integer"},
                                "last_status": {"type": ["integer", "null"]},
                                "last_error": nullable_str,
                                "next_at": {**nullable_time, "description": "pending: the next attempt"},
                                "last_attempt_at": nullable_time,
                                "delivered_at": nullable_time,
                                "failed_at": nullable_time,
                                "created_at": {"type": "string", "format": "date-time"},
                            },
                        },
                    }
                },
            },
            "EventAck": {
                "type": "object",
                "properties": {"ok": {"type": "boolean"}, "duplicate": {"type": "boolean"}},
            },
            "AdminStats": {
                "type": "object",
                "required": ["queue_depth", "jobs_by_status", "recent_failures", "throughput", "dead_letters"],
                "properties": {
                    "queue_depth": {
                        "type": "integer",
                        "description": (
                            "Job messages the queue still holds, waiting or delivered but not acked (local "
                            "Postgres queue: its rows; Cloudflare Queues: jobs queued or processing)"
                        ),
                    },
                    "queued_jobs": {"type": "integer"},
                    "jobs_by_status": {
                        "type": "object",
                        "required": JOB_STATUSES,
                        "properties": {s: {"type": "integer"} for s in JOB_STATUSES},
                        "additionalProperties": {"type": "integer"},
                    },
                    "recent_failures": {
                        "type": "array",
                        "maxItems": 20,
                        "description": "Newest first",
                        "items": {
                            "type": "object",
                            "required": ["job_id", "file_id", "filename", "user_id", "error", "failed_at", "attempts"],
                            "properties": {
                                "job_id": {"type": "string", "format": "uuid"},
                                "file_id": {"type": ["string", "null"], "format": "uuid"},
                                "filename": nullable_str,
                                "user_id": {"type": ["string", "null"], "format": "uuid"},
                                "error": nullable_str,
                                "failed_at": {"type": "string"},
                                "attempts": {"type": "integer"},
                            },
                        },
                    },
                    "throughput": {
                        "type": "object",
                        "properties": {
                            "completed_last_hour": {"type": "integer"},
                            "completed_last_24h": {"type": "integer"},
                            "avg_processing_seconds_last_hour": {"type": ["number", "null"]},
                            "per_minute_last_hour": {
                                "type": "number",
                                "description": "Average completions per minute over the last hour",
                            },
                        },
                    },
                    "dead_letters": {
                        "type": "integer",
                        "description": (
                            "Job messages that exhausted their deliveries (local: the dead-letter table; "
                            "Cloudflare: jobs the dead-letter queue's consumer received)"
                        ),
                    },
                },
            },
            "RetryAccepted": {
                "type": "object",
                "required": ["job_id", "status"],
                "properties": {
                    "job_id": {"type": "string", "format": "uuid"},
                    "status": {"const": "queued"},
                    "queue_message_id": {"type": "string"},
                },
            },
        },
    }


# -- processor storage grants ----------------------------------------------------------

GRANT_TOKEN = path_param("token", "The job's storage grant (a JWT naming one original and one output prefix)")
GRANT_403 = "Forged or expired grant, or a path outside the grant's `derived/<file_id>/` prefix"


def _processor_storage_paths() -> dict[str, dict[str, Any]]:
    """What a processor can do with a job's grant (``mediagate.files.grants``); no bearer token."""
    output_path = path_param("path", "The output's name under `derived/<file_id>/`; may contain `/`")
    return {
        "/api/processor-storage/{token}/original": {
            "parameters": [GRANT_TOKEN],
            "get": ranged_read(
                "readGrantedOriginal",
                "The job's original (HTTP Range supported)",
                "processor",
                {"description": "The whole original", "content": BINARY},
                {"403": GRANT_403, "404": "The original is gone"},
            ),
            "head": ranged_head(
                "headGrantedOriginal",
                "Headers of the job's original",
                "processor",
                "The original's headers (no body)",
                {"403": GRANT_403, "404": "The original is gone"},
            ),
        },
        "/api/processor-storage/{token}/outputs/{path}": {
            "parameters": [GRANT_TOKEN, output_path],
            "put": op(
                "putGrantedOutput",
                "Write one output (one object per request, streamed)",
                "processor",
                {
                    "201": ok(
                        "Stored",
                        {
                            "type": "object",
                            "required": ["key", "size", "content_type"],
                            "properties": {
                                "key": {"type": "string"},
                                "size": {"type": "integer"},
                                "content_type": {"type": "string"},
                            },
                        },
                    ),
                    "400": error("Body shorter or longer than its Content-Length, or invalid; nothing stored"),
                    "403": error(GRANT_403),
                    "411": error("Content-Length is required"),
                    "413": error("Larger than the grant's `max_put_bytes` (at most 100 MB, the Workers limit)"),
                },
                security=PUBLIC,
                description="The stored Content-Type is the request's. Overwrites an existing output.",
                parameters=[header_param("Content-Length", "The body's size", {"type": "integer"}, required=True)],
                body={"required": True, "content": BINARY},
            ),
            "head": op(
                "headGrantedOutput",
                "Whether an output exists",
                "processor",
                {
                    "200": {"description": "It exists (Content-Length, Content-Type)"},
                    "403": error(GRANT_403, body=False),
                    "404": error("No such output", body=False),
                },
                security=PUBLIC,
            ),
            "delete": op(
                "deleteGrantedOutputs",
                "Delete one output, or every output (empty path)",
                "processor",
                {
                    "200": ok(
                        "Deleted (missing objects count too)",
                        {"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "integer"}}},
                    ),
                    "403": error(GRANT_403),
                },
                security=PUBLIC,
            ),
        },
    }


def _add_rate_limit_responses(paths: dict[str, dict[str, Any]]) -> None:
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters" or not budgets_for(method, path):
                continue
            operation["responses"]["429"] = ref("responses", "TooManyRequests")


def build_spec() -> dict[str, Any]:
    paths = {**_paths(), **organize.paths(), **_processor_storage_paths()}
    _add_rate_limit_responses(paths)
    components = _components()
    components["schemas"].update(organize.schemas())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mediagate API",
            "version": "1.0.0",
            "description": (
                "Resumable uploads (tus 1.0.0), a per-user file library with previews and signed downloads, "
                'processing webhooks and admin tools. Errors are JSON `{"error": message}`. Requests under '
                "`/api/` are rate limited per user (RATE_LIMIT_API per minute; upload creations also "
                "RATE_LIMIT_UPLOADS per minute), except `/api/health`, signed object links, processor "
                "storage grants and the tus "
                "PATCH/HEAD of an upload in progress. Request bodies are bounded before they are read (64 KiB for "
                "`/webhook/*`, 256 KiB for other JSON endpoints; tus streams): a larger `Content-Length` or body is "
                "413, a body not received within 30 s is 408; malformed numbers, control characters, over-deep "
                "JSON and over-long paths are 400."
            ),
        },
        "servers": [{"url": "/"}],
        "tags": [
            {
                "name": "uploads",
                "description": "tus 1.0.0: creation, creation-with-upload, defer-length, "
                "termination, expiration, checksum",
            },
            {"name": "files", "description": "The caller's files"},
            {"name": "trash", "description": "Restoring and purging trashed files"},
            {"name": "albums", "description": "Named collections of the caller's files"},
            {"name": "shares", "description": "Share links; `/api/public/*` needs no token (limited per address)"},
            {"name": "objects", "description": "Signed links to stored objects"},
            {"name": "processor", "description": "Job-scoped storage grants for the processor"},
            {"name": "webhooks", "description": "Processing events"},
            {"name": "admin", "description": "Admin tokens only"},
            {"name": "meta", "description": "Health and this description"},
        ],
        "security": BEARER,
        "paths": paths,
        "webhooks": {
            "processing-complete": _user_webhook("processing-complete", "A file finished processing"),
            "processing-failed": _user_webhook("processing-failed", "A file could not be processed"),
        },
        "components": components,
    }


from . import openapi_organize as organize  # noqa: E402 - it uses the helpers above

SPEC = build_spec()


async def openapi_json(request: Request) -> Response:
    spec = copy.copy(SPEC)
    spec["servers"] = [{"url": str(request.base_url).rstrip("/") or "/"}]
    return JSONResponse(spec, headers={"Cache-Control": "public, max-age=300"})


routes = [Route("/api/openapi.json", openapi_json, methods=["GET"])]
