"""Regional download hosts: pick the nearest configured region for a request.

Configured with ``DOWNLOAD_REGIONS`` (JSON)::

    {"eu": {"base_url": "https://eu.files.example.com", "continents": ["EU", "AF"], "countries": []},
     "us": {"base_url": "https://us.files.example.com", "continents": ["NA", "SA"]},
     "apac": {"base_url": "https://ap.files.example.com", "continents": ["AS", "OC"]}}

and ``DEFAULT_REGION``. The request's location comes from ``request.cf`` in production
(the Worker entry copies ``cf.country`` / ``cf.continent`` into the
``X-Mediagate-Country`` / ``X-Mediagate-Continent`` headers) and from the same headers
locally; ``X-Mediagate-Region`` names a region explicitly. A country match beats a
continent match; with no match the default region serves. A region with no
``base_url`` is served by this API itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    name: str
    base_url: str | None = None
    continents: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegionChoice:
    region: Region
    reason: str  # 'explicit', 'country', 'continent', 'default'


class RegionMap:
    def __init__(self, regions: list[Region], default: str) -> None:
        if not regions:
            regions = [Region("local")]
        self.regions = {r.name: r for r in regions}
        self.default = self.regions.get(default) or regions[0]

    @classmethod
    def from_config(cls, raw: str | None, default: str | None) -> RegionMap:
        if not raw:
            return cls([], default or "local")
        try:
            data = json.loads(raw)
            regions = [
                Region(
                    name=str(name),
                    base_url=(str(cfg["base_url"]).rstrip("/") if cfg.get("base_url") else None),
                    continents=tuple(str(c).upper() for c in cfg.get("continents", ())),
                    countries=tuple(str(c).upper() for c in cfg.get("countries", ())),
                )
                for name, cfg in data.items()
            ]
        except (ValueError, AttributeError, TypeError) as exc:
            raise ValueError(f"DOWNLOAD_REGIONS is not valid region JSON: {exc}") from exc
        return cls(regions, default or regions[0].name)

    def choose(self, *, explicit: str | None, country: str | None, continent: str | None) -> RegionChoice:
        if explicit and explicit in self.regions:
            return RegionChoice(self.regions[explicit], "explicit")
        country = (country or "").upper()
        continent = (continent or "").upper()
        if country:
            for region in self.regions.values():
                if country in region.countries:
                    return RegionChoice(region, "country")
        if continent:
            for region in self.regions.values():
                if continent in region.continents:
                    return RegionChoice(region, "continent")
        return RegionChoice(self.default, "default")
