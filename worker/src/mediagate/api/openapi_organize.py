"""The OpenAPI description of issue #11's endpoints: edits, trash, albums, share links.

Kept apart from :mod:`mediagate.api.openapi` (which merges it in) so each module stays
readable; it uses the same helpers, imported lazily by ``openapi.build_spec``.
"""

from __future__ import annotations

from typing import Any

from .openapi import FILE_ID, IDS_BODY, PUBLIC, error, json_body, ok, op, path_param, ref, schema

NOT_FOUND = ref("responses", "NotFound")
UUID = {"type": "string", "format": "uuid"}
ALBUM_ID = path_param("album_id", "The album's id", UUID)
SHARE_ID = path_param("share_id", "The share's id", UUID)
TOKEN = path_param("token", "The share link's token (the last segment of its `url`)")


def query(name: str, description: str, s: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": s}


#: ``GET /api/files``'s parameters added by issue #11 (openapi.py lists the older ones).
SORT_PARAMS = [
    query(
        "sort",
        "Sort key: upload date, date taken (files without one last), name, size",
        {"enum": ["uploaded", "taken", "name", "size"], "default": "uploaded"},
    ),
    query("order", "Direction", {"enum": ["desc", "asc"], "default": "desc"}),
]
LIST_FILTERS = [
    query("favourite", "Only favourites", {"enum": ["true", "false"]}),
    query("album", "Only this album's files (404 if it is not the caller's)", UUID),
    query("camera_make", "Exact camera make", {"type": "string", "maxLength": 200}),
    query("camera_model", "Exact camera model", {"type": "string", "maxLength": 200}),
    query("lens", "Exact lens", {"type": "string", "maxLength": 200}),
    query("taken_from", "Taken at or after (ISO date = start of day, or date-time)", {"type": "string"}),
    query("taken_to", "Taken at or before (ISO date = the whole day, or date-time)", {"type": "string"}),
    query("trashed", "List the trash instead", {"enum": ["true", "false"]}),
]


def _ids_op(op_id: str, summary: str, tag: str, result: str) -> dict[str, Any]:
    return op(
        op_id,
        summary,
        tag,
        {
            "200": ok("How many", {"type": "object", "properties": {result: {"type": "integer"}}}),
            "400": error("The body is not JSON"),
            "422": error("`ids` missing, empty, not UUIDs, or more than 500"),
        },
        body=IDS_BODY,
    )


def _album_members(op_id: str, summary: str, result: str) -> dict[str, Any]:
    operation = _ids_op(op_id, summary, "albums", result)
    operation["responses"]["404"] = error("The album, or any of the files, is not the caller's (nothing changed)")
    return operation


def _public(op_id: str, summary: str, result: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return op(
        op_id,
        summary,
        "shares",
        {"200": ok("Found", result), "404": error("Unknown, revoked or expired share, or a trashed target")},
        security=PUBLIC,
        **kw,
    )


def paths() -> dict[str, dict[str, Any]]:
    album_out = ok("The album", schema("Album"))
    return {
        "/api/files/facets": {
            "get": op(
                "fileFacets",
                "Distinct camera makes, models and lenses of the caller's live files (≤ 200 each)",
                "files",
                {"200": ok("Values for the filter pickers", schema("Facets"))},
            )
        },
        "/api/files/{file_id}/restore": {
            "parameters": [FILE_ID],
            "post": op(
                "restoreFile",
                "Take a file out of the trash",
                "trash",
                {"200": ok("The file", schema("FileDetail")), "404": NOT_FOUND},
            ),
        },
        "/api/files/bulk-restore": {
            "post": _ids_op("bulkRestore", "Take many files out of the trash", "trash", "restored")
        },
        "/api/files/bulk-purge": {
            "post": _ids_op("bulkPurge", "Delete many files for good now (trashed or not)", "trash", "purged")
        },
        "/api/trash/empty": {
            "post": op(
                "emptyTrash",
                "Delete every trashed file for good",
                "trash",
                {"200": ok("How many", {"type": "object", "properties": {"purged": {"type": "integer"}}})},
            )
        },
        "/api/albums": {
            "get": op(
                "listAlbums",
                "The caller's albums, newest first (keyset pagination)",
                "albums",
                {"200": ok("One page", schema("AlbumList")), "400": error("A bad `limit` or `cursor`")},
                parameters=[
                    query("limit", "Page size", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
                    query("cursor", "`next_cursor` of the previous page", {"type": "string"}),
                ],
            ),
            "post": op(
                "createAlbum",
                "Create an album",
                "albums",
                {"201": ok("Created", schema("Album")), "400": error("Not JSON"), "422": error("A bad name")},
                body={"required": True, **json_body(schema("AlbumCreate"))},
            ),
        },
        "/api/albums/{album_id}": {
            "parameters": [ALBUM_ID],
            "get": op("getAlbum", "One album", "albums", {"200": album_out, "404": NOT_FOUND}),
            "patch": op(
                "updateAlbum",
                "Rename an album and/or choose its cover (null: the newest file)",
                "albums",
                {
                    "200": album_out,
                    "400": error("Not JSON"),
                    "404": error("Not the caller's album, or the cover is not one of its files"),
                    "422": error("A bad field"),
                },
                body={"required": True, **json_body(schema("AlbumUpdate"))},
            ),
            "delete": op(
                "deleteAlbum",
                "Delete an album (its files stay)",
                "albums",
                {"204": {"description": "Deleted"}, "404": NOT_FOUND},
            ),
        },
        "/api/albums/{album_id}/files": {
            "parameters": [ALBUM_ID],
            "post": _album_members("addAlbumFiles", "Add files to an album (idempotent)", "added"),
        },
        "/api/albums/{album_id}/files/remove": {
            "parameters": [ALBUM_ID],
            "post": _album_members("removeAlbumFiles", "Remove files from an album", "removed"),
        },
        "/api/shares": {
            "get": op(
                "listShares",
                "The caller's share links, newest first",
                "shares",
                {
                    "200": ok(
                        "Shares",
                        {"type": "object", "properties": {"items": {"type": "array", "items": schema("Share")}}},
                    ),
                    "400": error("A bad `file_id` or `album_id`"),
                },
                parameters=[query("file_id", "Only this file's", UUID), query("album_id", "Only this album's", UUID)],
            ),
            "post": op(
                "createShare",
                "Share a file or an album through an unguessable link",
                "shares",
                {
                    "201": ok("Created", schema("Share")),
                    "400": error("Not JSON"),
                    "404": error("The file or album is not the caller's"),
                    "422": error("A bad field"),
                },
                body={"required": True, **json_body(schema("ShareCreate"))},
            ),
        },
        "/api/shares/{share_id}": {
            "parameters": [SHARE_ID],
            "delete": op(
                "revokeShare",
                "Revoke a share link (idempotent): its page and every link handed out through it stop at once",
                "shares",
                {"204": {"description": "Revoked"}, "404": NOT_FOUND},
            ),
        },
        "/api/public/shares/{token}": {
            "parameters": [TOKEN],
            "get": _public("openShare", "A share page (no token; counts one view)", schema("PublicShare")),
        },
        "/api/public/shares/{token}/files": {
            "parameters": [TOKEN],
            "get": _public(
                "listShareFiles",
                "An album share's files (keyset pagination in any sort)",
                {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": schema("PublicFile")},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                },
                parameters=[
                    query("limit", "Page size", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
                    query("cursor", "`next_cursor` of the previous page", {"type": "string"}),
                    *SORT_PARAMS,
                ],
            ),
        },
        "/api/public/shares/{token}/files/{file_id}": {
            "parameters": [TOKEN, FILE_ID],
            "get": _public("getShareFile", "One file of a share", schema("PublicFile")),
        },
    }


def schemas() -> dict[str, Any]:
    nullable_str = {"type": ["string", "null"]}
    nullable_url = {"type": ["string", "null"], "format": "uri"}
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "FileEdit": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {
                "filename": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "description": "The display name (no control characters, `/` or `\\`)",
                },
                "favourite": {"type": "boolean"},
            },
        },
        "Facets": {
            "type": "object",
            "properties": {"camera_makes": strings, "camera_models": strings, "lenses": strings},
        },
        "Album": {
            "type": "object",
            "required": ["id", "name", "file_count"],
            "properties": {
                "id": UUID,
                "name": {"type": "string"},
                "file_count": {"type": "integer", "description": "Files not in the trash"},
                "cover_file_id": {"type": ["string", "null"], "description": "The chosen cover; null: the newest"},
                "cover_thumbnail_url": nullable_url,
                "created_at": {"type": "string"},
                "updated_at": {"type": "string"},
            },
        },
        "AlbumList": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": schema("Album")}, "next_cursor": nullable_str},
        },
        "AlbumCreate": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}},
        },
        "AlbumUpdate": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "cover_file_id": {"type": ["string", "null"], "format": "uuid"},
            },
        },
        "Share": {
            "type": "object",
            "required": ["id", "token", "url", "kind", "target_id"],
            "properties": {
                "id": UUID,
                "token": {"type": "string"},
                "url": {"type": "string", "description": "The web app's share page, `<base>/#/s/<token>`"},
                "kind": {"enum": ["file", "album"]},
                "target_id": UUID,
                "expires_at": nullable_str,
                "allow_download": {"type": "boolean"},
                "views": {"type": "integer"},
                "created_at": {"type": "string"},
                "revoked_at": nullable_str,
            },
        },
        "ShareCreate": {
            "type": "object",
            "additionalProperties": False,
            "description": "Exactly one of `file_id` and `album_id`",
            "properties": {
                "file_id": UUID,
                "album_id": UUID,
                "expires_in_seconds": {
                    "type": ["integer", "null"],
                    "minimum": 60,
                    "maximum": 31536000,
                    "default": 604800,
                    "description": "null: never expires",
                },
                "allow_download": {"type": "boolean", "default": False},
            },
        },
        "PublicFile": {
            "type": "object",
            "description": "A file as a share shows it. Every URL is signed and bound to the share.",
            "properties": {
                "id": UUID,
                "filename": {"type": "string"},
                "name": {"type": "string"},
                "file_type": {"type": "string"},
                "type": {"type": "string"},
                "mime_type": {"type": "string"},
                "file_size": {"type": "integer"},
                "size": {"type": "integer"},
                "created_at": {"type": "string"},
                "taken_at": nullable_str,
                "processing_status": {"type": "string"},
                "playable": {"type": "boolean"},
                "direct_play": {"type": ["boolean", "null"]},
                "placeholder": nullable_str,
                "width": {"type": ["integer", "null"]},
                "height": {"type": ["integer", "null"]},
                "duration": {"type": ["number", "null"]},
                "preview_url": nullable_url,
                "thumbnail_url": nullable_url,
                "hls_url": nullable_url,
                "poster_url": nullable_url,
                "storyboard_url": nullable_url,
                "download_url": {"type": "string", "format": "uri", "description": "Only if downloads are allowed"},
            },
        },
        "PublicShare": {
            "type": "object",
            "properties": {
                "kind": {"enum": ["file", "album"]},
                "name": {"type": "string"},
                "allow_download": {"type": "boolean"},
                "expires_at": nullable_str,
                "file": {"oneOf": [schema("PublicFile"), {"type": "null"}]},
                "album": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "file_count": {"type": "integer"}},
                        },
                        {"type": "null"},
                    ]
                },
            },
        },
    }


#: Added to the FileItem schema.
FILE_ITEM_PROPERTIES: dict[str, Any] = {
    "filename": {"type": "string", "description": "The display name (same as `name`; rename changes it)"},
    "original_filename": {"type": "string", "description": "The name the file was uploaded under"},
    "favourite": {"type": "boolean"},
    "trashed_at": {"type": ["string", "null"]},
    "taken_at": {"type": ["string", "null"], "description": "EXIF DateTimeOriginal / QuickTime creation_time"},
    "camera_make": {"type": ["string", "null"]},
    "camera_model": {"type": ["string", "null"]},
    "lens": {"type": ["string", "null"]},
}
