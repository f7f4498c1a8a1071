import math

import numpy as np
from geographiclib.geodesic import Geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.geo import (
    ecef,
    ecef_point,
    geodesic_m,
    geodesic_many_m,
    geodesic_upper_bound_m,
    uniform_in_disk,
    validate_lat_lon,
)

lat_s = st.floats(-89.9, 89.9)
lon_s = st.floats(-180, 180)


@settings(max_examples=200, deadline=None)
@given(lat_s, lon_s, lat_s, lon_s)
def test_geodesic_matches_geographiclib(a: float, b: float, c: float, d: float) -> None:
    ref = Geodesic.WGS84.Inverse(a, b, c, d)["s12"]
    assert math.isclose(geodesic_m(a, b, c, d), ref, rel_tol=1e-12, abs_tol=1e-6)


@settings(max_examples=300, deadline=None)
@given(lat_s, lon_s, st.floats(-0.5, 0.5), st.floats(-0.5, 0.5))
def test_chord_bounds_the_geodesic_from_both_sides(
    lat: float, lon: float, dlat: float, dlon: float
) -> None:
    lat2 = max(-89.9, min(89.9, lat + dlat))
    lon2 = ((lon + dlon + 180) % 360) - 180
    p, q = ecef(lat, lon), ecef(lat2, lon2)
    chord = float(np.linalg.norm(p - q))
    s = geodesic_m(lat, lon, lat2, lon2)
    assert chord <= s + 1e-6
    assert s <= geodesic_upper_bound_m(chord) + 1e-6


def test_scalar_and_vector_ecef_agree() -> None:
    assert np.allclose(ecef_point(51.5, -0.12), ecef(51.5, -0.12), rtol=0, atol=1e-6)


def test_vectorised_geodesic_broadcasts_a_scalar_origin() -> None:
    lat = np.array([40.0, 41.0, 42.0])
    lon = np.array([-74.0, -74.0, -74.0])
    out = geodesic_many_m(40.0, -74.0, lat, lon)
    assert out[0] == 0.0
    assert math.isclose(out[1], geodesic_m(40.0, -74.0, 41.0, -74.0))


def test_uniform_in_disk_stays_inside_the_radius() -> None:
    rng = np.random.default_rng(0)
    lat, lon = uniform_in_disk(rng, 40.75, -73.98, 2000.0, 2000)
    d = geodesic_many_m(40.75, -73.98, lat, lon)
    assert d.max() <= 2000.0 + 1e-6
    # Uniform by area: about a quarter of the points fall within half the radius.
    assert 0.2 < float((d < 1000.0).mean()) < 0.3


def test_validate_lat_lon_names_the_problem() -> None:
    assert validate_lat_lon(95.0, 0.0) == "latitude 95.0 is outside [-90, 90]"
    assert validate_lat_lon(0.0, 181.0) == "longitude 181.0 is outside [-180, 180]"
    assert validate_lat_lon(45.0, 10.0) is None
