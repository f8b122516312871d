"""The API's routes, grouped by what they serve; each module's ``add_routes`` registers its own.

``packs``: chunk queries and pack bytes (up and down, direct or through the server);
``versions``: projects, collections, versions and their manifests and lineage;
``runs``: runs and their inputs and outputs; ``sync``: a caller's access on a project and
where synced versions came from; ``admin``: health, the OpenAPI
description and the audit log.
"""
