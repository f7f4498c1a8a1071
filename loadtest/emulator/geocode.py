"""Deterministic offline geocoding.

An address resolves to a stable point inside the configured region: its normalised text
is hashed into a bearing and a distance from the region's centre (uniform by area), and
:func:`sim.geo.offset_points` solves the geodesic direct problem, vectorised over a batch.

The failing class: an address whose text contains one of ``RegionConfig.failing_markers``
(by default ``"infinite loop"`` and ``"nowhere"``, case-insensitive) does not geocode.
An unparsed address that does not start with a house number geocodes with a warning.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loadtest.emulator.config import RegionConfig
from sim.geo import offset_points

_SALT = 0x5EED_F1EE
WARN_NO_NUMBER = "Address geocoded without a house number; position is approximate."


@dataclass(frozen=True, slots=True)
class Parsed:
    """An address split into Onfleet's structured fields."""

    number: str
    street: str
    apartment: str
    city: str
    state: str
    postal_code: str
    country: str

    def as_dict(self) -> dict[str, str]:
        return {
            "apartment": self.apartment,
            "state": self.state,
            "postalCode": self.postal_code,
            "number": self.number,
            "street": self.street,
            "city": self.city,
            "country": self.country,
        }


class Geocoder:
    """Address text -> (lat, lon), deterministic; see the module docstring."""

    def __init__(self, region: RegionConfig) -> None:
        self.region = region
        self._markers = tuple(m.lower() for m in region.failing_markers)

    def fails(self, text: str) -> bool:
        low = text.lower()
        return any(m in low for m in self._markers)

    def parse_unparsed(self, text: str) -> tuple[Parsed, bool]:
        """Split ``"2829 Vallejo St, SF, CA, 94123, USA"``; returns (fields, has_number)."""
        parts = [p.strip() for p in text.split(",")]
        first = parts[0] if parts else ""
        head, _, rest = first.partition(" ")
        has_number = head[:1].isdigit()
        number, street = (head, rest) if has_number else ("", first)
        r = self.region
        city = parts[1] if len(parts) > 1 else r.city
        state = parts[2] if len(parts) > 2 else r.state
        postal = ""
        country = r.country
        tail = parts[3:]
        if tail and tail[0][:1].isdigit():
            postal = tail.pop(0)
        if tail:
            country = tail[-1]
        return Parsed(number, street, "", city, state, postal, country), has_number

    def locate(self, texts: Sequence[str]) -> tuple[list[float], list[float]]:
        """Stable points (lats, lons) for the given address texts (vectorised)."""
        n = len(texts)
        if n == 0:
            return [], []
        # Two independent CRC-32s of the normalised text: deterministic across processes
        # (unlike hash()) and far cheaper than a cryptographic hash per address.
        keys = [" ".join(t.lower().split()).encode() for t in texts]
        u = np.array([(zlib.crc32(k), zlib.crc32(k, _SALT)) for k in keys], dtype=np.float64)
        u *= 1.0 / 4294967296.0
        r = self.region
        lat, lon = offset_points(r.lat, r.lon, u[:, 0] * 360.0, r.radius_m * np.sqrt(u[:, 1]))
        return np.round(lat, 7).tolist(), np.round(lon, 7).tolist()


def valid_location(loc: object) -> tuple[float, float] | None:
    """``[lng, lat]`` -> (lat, lon) when it is a valid WGS84 position, else None."""
    if not isinstance(loc, list | tuple) or len(loc) != 2:
        return None
    lng, lat = loc
    if isinstance(lng, bool) or isinstance(lat, bool):
        return None
    if not isinstance(lng, int | float) or not isinstance(lat, int | float):
        return None
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        return None
    return float(lat), float(lng)
