"""The client/server contract: routes, headers, media types, limits. See docs/protocol.md."""

from __future__ import annotations

from urllib.parse import quote

API_PREFIX = "/v1"
PACK_MEDIA_TYPE = "application/x-asyncart-pack"
MANIFEST_MEDIA_TYPE = "application/x-asyncart-manifest"  # gzip-compressed JSON
REQUEST_ID_HEADER = "X-Request-Id"
VERSION_INFO_HEADER = "X-Asyncart-Version"  # JSON VersionInfo beside a manifest body
MAX_JSON_BODY = 64 << 20  # bytes of a commit body (the largest JSON body), after gzip decoding
MAX_QUERY_BODY = 8 << 20  # bytes of a missing/locate body (100,000 hashes are ~7 MB)
MAX_HEADER_BODY = 4 << 20  # bytes of a direct-upload body (a base64 pack header)
MAX_RUN_BODY = 2 << 20  # bytes of a run creation body (its config is at most 1 MiB)
MAX_PATCH_BODY = 2 << 20  # bytes of a version update body (its metadata is at most 1 MiB)
MAX_SMALL_BODY = 256 << 10  # bytes of the other JSON bodies (run finish/inputs, pack urls)
MAX_QUERY_HASHES = 100_000  # hashes per missing/locate query the server accepts
# Hashes per missing/locate query the client sends: well under the server's limit, so a
# batch's answer stays small and the next stage can start on it sooner.
CLIENT_QUERY_HASHES = 20_000
MAX_METADATA_BYTES = 1 << 20  # a version's metadata / a run's config, as compact JSON
MAX_DESCRIPTION_BYTES = 64 << 10  # a version's description, UTF-8
LIST_PAGE = 100  # items in one page of a list answer, unless ?limit= says otherwise
MAX_LIST_PAGE = 1000  # the largest ?limit= of a list answer
MAX_JSON_DEPTH = 64  # nesting of arrays/objects in a JSON request body
MAX_MANIFEST_BODY = 512 << 20
HEADER_TIMEOUT = 60.0  # seconds the server waits for a request's headers (and on keep-alive)
BODY_IDLE_TIMEOUT = 60.0  # seconds the server waits for the next bytes of a request body
BODY_GRACE = 60.0  # seconds a request body may take before BODY_MIN_RATE applies
BODY_MIN_RATE = 64 << 10  # bytes/s a request body must average once BODY_GRACE has passed
OPENAPI_PATH = "/openapi.json"  # the OpenAPI 3 description of this protocol
DELETE_ALIASES_PARAM = "delete_aliases"  # query flag of the DELETE routes: "true" / "false"
PROJECT_PARAM = "project"  # query parameter of the pack upload routes: the project charged

# Routes (server side patterns; the client builds them with the helpers below).
HEALTH = f"{API_PREFIX}/health"
CHUNKS_MISSING = f"{API_PREFIX}/chunks/missing"
CHUNKS_LOCATE = f"{API_PREFIX}/chunks/locate"
PACKS = f"{API_PREFIX}/packs"
PACK = f"{API_PREFIX}/packs/{{pack}}"
PACK_URLS = f"{API_PREFIX}/packs/urls"  # POST: presigned object-store URLs to read packs
PACKS_DIRECT = f"{API_PREFIX}/packs/direct"  # POST: a presigned URL to upload a pack's bytes
PACKS_DIRECT_COMPLETE = f"{API_PREFIX}/packs/direct/complete"  # POST: verify and record it
MAX_PACK_URLS = 1000  # packs per PACK_URLS request
DIRECT_URL_SECONDS = 3600  # how long a presigned URL stays valid
PROJECTS = f"{API_PREFIX}/projects"
COLLECTIONS = f"{API_PREFIX}/projects/{{project}}/artifacts"
STORAGE = f"{API_PREFIX}/projects/{{project}}/storage"  # GET: what its versions cost
QUOTA = f"{API_PREFIX}/projects/{{project}}/quota"  # GET ?new_bytes=N: quota, usage; 403 if over
COLLECTION = f"{API_PREFIX}/projects/{{project}}/artifacts/{{name}}"  # PATCH, DELETE
VERSIONS = f"{API_PREFIX}/projects/{{project}}/artifacts/{{name}}/versions"
VERSION = f"{API_PREFIX}/projects/{{project}}/artifacts/{{name}}/versions/{{ref}}"  # also PATCH
#: POST ``?distributed_id=``: add a part to a distributed version (a commit body)
PENDING = f"{COLLECTION}/pending"
PENDING_FINISH = f"{PENDING}/finish"  # POST ``?distributed_id=&token=``: commit every part
ALIAS = f"{COLLECTION}/aliases/{{alias}}"  # PUT: point it at a version; DELETE: remove it
#: GET: the collection's retention policy; PUT: set it; DELETE: clear it (docs/retention.md)
RETENTION = f"{COLLECTION}/retention"
MAX_TAGS = 1000  # tags named by one version update
MAX_TTL_SECONDS = 2**31 - 1  # the longest ttl of a version (~68 years: a 32-bit column)
MANIFEST = f"{VERSION}/manifest"
VERSION_CONSUMERS = f"{VERSION}/consumers"
VERSION_PRODUCERS = f"{VERSION}/producers"
LINKS = f"{VERSION}/links"  # POST: link the version into a collection; GET: its links
UNLINK = f"{VERSION}/unlink"  # POST: remove this link (its source stays)
#: PUT: record where ``asyncart sync`` copied the version from (docs/protocol.md §3.13)
ORIGIN = f"{VERSION}/origin"
ORIGINS = f"{COLLECTION}/origins"  # GET: where the collection's synced versions came from
ACCESS = f"{API_PREFIX}/projects/{{project}}/access"  # GET: the caller's role on the project
AUDIT = f"{API_PREFIX}/projects/{{project}}/audit"  # GET: the project's audit log (admins)
VERSION_BY_ID = f"{API_PREFIX}/version-ids/{{version_id}}"  # GET: the version with that id
RUNS = f"{API_PREFIX}/runs"
RUN = f"{API_PREFIX}/runs/{{run_id}}"
RUN_FINISH = f"{RUN}/finish"
RUN_CONFIG = f"{RUN}/config"  # PUT: replace a running run's config
RUN_INPUTS = f"{RUN}/inputs"
RUN_OUTPUTS = f"{RUN}/outputs"


def path(template: str, **params: str) -> str:
    """Fill a route template, percent-escaping each segment (names may hold spaces)."""
    return template.format(**{k: quote(v, safe="") for k, v in params.items()})
