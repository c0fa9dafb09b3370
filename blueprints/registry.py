"""The blueprints archc builds, in order: which part of the spec each one gets, in which regions it runs.
A section that is not declared builds nothing."""

from __future__ import annotations

from compiler.context import Blueprint
from compiler.naming import ALARMS, API, CDN_ACCESS, DATA, EDGE, FUNCTIONS, IMAGES, NETWORK, QUEUES, STANDBY, STORAGE
from compiler.spec.regions import EDGE_REGION

from . import alarms, api, cdn_access, data, edge, functions, images, network, queues, standby, storage


def _every_region(spec):
    return spec.regions.all


def _alarm_regions(spec):
    """Every region with alarms: the regional ones, and us-east-1 for CloudFront's."""
    extra = (EDGE_REGION,) if spec.cdn and EDGE_REGION not in spec.regions.all else ()
    return spec.regions.all + extra


def _edge(spec):
    return (EDGE_REGION,)


def _primary(spec):
    return (spec.regions.primary,)


def _compute(spec):
    """Functions, APIs and the queues they read: backup_restore keeps none running in the DR region before failover."""
    return spec.compute_regions


def _network(spec):
    """A VPC where something runs in it: the compute regions, and the DR region when it holds a database."""
    return spec.compute_regions + ((spec.regions.dr,) if spec.standby and spec.regions.dr not in spec.compute_regions else ())


def _data(spec):
    """The primary region; the DR region holds the keys the copies of the database and tables are encrypted with."""
    return spec.regions.primary, *((spec.regions.dr,) if spec.database_copy or spec.replicated("tables") else ())


def _storage_regions(spec):
    return spec.regions.primary, *((spec.regions.dr,) if spec.replicated("buckets") else ())


def _standby(spec):
    """The DR region's database: a read replica (warm_standby), or the instance restored or promoted at failover."""
    return spec if spec.standby else None


def _image_regions(spec):
    """The primary region, and the DR region when a repository replicates there."""
    return spec.regions.primary, *((spec.regions.dr,) if spec.regions.dr and any(r.replicate for r in spec.repositories.values()) else ())


def _storage(spec):
    return spec if spec.buckets or any(d.logging for d in spec.cdn.values()) else None


BLUEPRINTS: tuple[Blueprint, ...] = (
    Blueprint(ALARMS, alarms.build, lambda s: s.alarms, _alarm_regions),
    Blueprint(NETWORK, network.build, lambda s: s.network, _network),
    Blueprint(DATA, data.build, lambda s: s if (s.database or s.tables) else None, _data),
    Blueprint(STORAGE, storage.build, _storage, _storage_regions),
    Blueprint(QUEUES, queues.build, lambda s: s if s.queues else None, _compute),
    Blueprint(IMAGES, images.build, lambda s: s if s.repositories else None, _image_regions),
    Blueprint(STANDBY, standby.build, _standby, lambda s: (s.regions.dr,)),
    Blueprint(FUNCTIONS, functions.build, lambda s: s if s.functions else None, _compute),
    Blueprint(API, api.build, lambda s: s.api if s.api and (s.api.rest or s.api.websocket) else None, _compute),
    Blueprint(EDGE, edge.build, lambda s: s.cdn or None, _edge),
    Blueprint(CDN_ACCESS, cdn_access.build, lambda s: s if s.cdn else None, _every_region),
)
