"""origin-request: pick the origin by the longest matching route prefix.

Handler string: ``origin_request.handler``. Origin-request is the only event that
can change the origin: ``request["origin"]`` is replaced by ``{"s3": {...}}`` or
``{"custom": {...}}`` (CloudFront's event shape) and the Host header is set to the new
origin's domain (API Gateway and S3 route on Host). A URI that matches no route
keeps the origin chosen by the cache behavior. Needs no AWS permissions beyond logs.
"""
from __future__ import annotations

import config


def _headers(custom: dict) -> dict:
    return {name.lower(): [{"key": name, "value": str(value)}] for name, value in custom.items()}


def origin_object(o: config.Origin) -> dict:
    """The ``request["origin"]`` value for a configured origin."""
    if o.type == "s3":
        return {"s3": {
            "domainName": o.domain,
            "region": o.region,
            "authMethod": o.auth_method,
            "path": o.path,
            "customHeaders": _headers(o.custom_headers),
        }}
    return {"custom": {
        "domainName": o.domain,
        "port": o.port,
        "protocol": o.protocol,
        "path": o.path,
        "sslProtocols": list(o.ssl_protocols),
        "readTimeout": o.read_timeout,
        "keepaliveTimeout": o.keepalive_timeout,
        "customHeaders": _headers(o.custom_headers),
    }}


def route_for(uri: str, routes) -> config.Route | None:
    matches = [r for r in routes if uri.startswith(r.prefix)]
    return max(matches, key=lambda r: len(r.prefix)) if matches else None


def handler(event, context):
    request = event["Records"][0]["cf"]["request"]
    cfg = config.get()
    route = route_for(request["uri"], cfg.routes)
    if route is None:
        return request
    origin = cfg.origins[route.origin]
    request["origin"] = origin_object(origin)
    request.setdefault("headers", {})["host"] = [{"key": "Host", "value": origin.domain}]
    return request
