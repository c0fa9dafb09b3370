"""The blueprints archc builds, in order, with the section each one gets and the regions it runs in."""

from __future__ import annotations

from compiler.app import Blueprint

from . import alarms, api, database, network


def _every_region(spec):
    return spec.regions.all


def _primary(spec):
    return (spec.regions.primary,)


BLUEPRINTS: tuple[Blueprint, ...] = (
    Blueprint(alarms.CONCERN, alarms.build, lambda s: s.alarms, _every_region),
    Blueprint(network.CONCERN, network.build, lambda s: s.network, _every_region),
    Blueprint(database.CONCERN, database.build, lambda s: s.database, _primary,
              transform=lambda s: database.ROTATION_TRANSFORM if s.database and s.database.engine == "postgres" else None),
    Blueprint(api.CONCERN, api.build, lambda s: s if (s.functions or s.api) else None, _every_region),
)
