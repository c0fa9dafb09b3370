"""The blueprints archc builds, in order, with the section each one gets and the regions it runs in."""

from __future__ import annotations

from compiler.app import Blueprint

from compiler.spec.regions import EDGE_REGION

from . import alarms, api, database, edge, network, web


def _every_region(spec):
    return spec.regions.all


def _alarm_regions(spec):
    """Every region with alarms: the regional ones, and us-east-1 for CloudFront's."""
    extra = (EDGE_REGION,) if spec.cdn is not None and EDGE_REGION not in spec.regions.all else ()
    return spec.regions.all + extra


def _edge(spec):
    return (EDGE_REGION,)


def _primary(spec):
    return (spec.regions.primary,)


BLUEPRINTS: tuple[Blueprint, ...] = (
    Blueprint(alarms.CONCERN, alarms.build, lambda s: s.alarms, _alarm_regions),
    Blueprint(network.CONCERN, network.build, lambda s: s.network, _every_region),
    Blueprint(database.CONCERN, database.build, lambda s: s.database, _primary,
              transform=lambda s: database.ROTATION_TRANSFORM if s.database and s.database.engine == "postgres" else None),
    Blueprint(api.CONCERN, api.build, lambda s: s if (s.functions or s.api) else None, _every_region),
    Blueprint(web.CONCERN, web.build, lambda s: s if s.cdn else None, _primary),
    Blueprint(edge.CONCERN, edge.build, lambda s: s if s.cdn else None, _edge),
    Blueprint(web.ACCESS_CONCERN, web.build_access, lambda s: s if s.cdn and len(web.names(s, "x")) > 1 else None, _primary),
)
