"""Seeded procedural aerial scenes labelled with ISPRS Potsdam's six classes, for the tests and the demo.

A scene is painted bottom-up like an orthophoto: textured grass, bare-soil or construction patches and
sometimes a pond (both clutter), a road network with sidewalks, dashed centre lines and a car park
(impervious), buildings with shaded gable, hip or flat roofs, clustered tree crowns, cars, then the cast
shadows of buildings, trees and cars (which darken the image but keep the ground's label, as in Potsdam),
a radiometric gradient, sensor noise and a slight blur. Only numpy and OpenCV are used.

As in real orthophotos, colour alone does not decide the class: lawns range from lush green to dry straw,
crowns from dark green to autumn red and leafless grey, roofs and cars come in many colours (a green roof is
a building), pavements are grey, red or beige, and each scene has its own colour balance. Shape, texture and
context separate the classes, which is what a method trained to ignore colour jitter can learn.
"""
import json
import logging
import os
import os.path as osp
import shutil
from dataclasses import dataclass
from typing import Dict, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from ..utils.work_dir import make_staging_dir, publish_dir, recover_interrupted_output
from .preparation.potsdam import POTSDAM_CLASSES

IMPERVIOUS, BUILDING, LOW_VEGETATION, TREE, CAR, CLUTTER = range(6)

# Unit vector from the scene towards the sun in image coordinates (x right, y down): the sun stands in
# the upper left, so shadows fall to the lower right and roof facets facing the upper left are lit.
TOWARDS_SUN = np.array([-0.8, -0.6])
SHADOW_TINT_BGR = np.array([0.62, 0.55, 0.50], np.float32)  # skylight makes shadows bluish

ROOF_COLOURS_BGR = ((55, 75, 170), (45, 60, 135), (70, 95, 150), (135, 135, 138), (72, 72, 78), (150, 165, 180),
                    (110, 140, 75), (140, 95, 55), (60, 110, 120), (205, 205, 200))
# gravel and membrane greys, white membrane, a vegetated (green) roof and a tarred one
FLAT_ROOF_COLOURS_BGR = ((160, 162, 165), (95, 95, 100), (120, 128, 135), (215, 218, 220), (60, 120, 80),
                         (55, 58, 62))
CAR_COLOURS_BGR = ((225, 225, 225), (35, 35, 38), (40, 40, 165), (150, 85, 30), (140, 140, 145),
                   (60, 150, 205), (90, 60, 40), (50, 120, 60), (40, 200, 220))
# lawn and meadow from lush to dry, mixed in pairs per scene
GRASS_COLOURS_BGR = ((55, 125, 85), (80, 150, 140), (60, 145, 110), (100, 165, 180), (75, 110, 130),
                     (90, 125, 110))
# crown colours of a tree species: greens, olive, autumn yellow, orange and red, leafless grey-brown
CROWN_COLOURS_BGR = ((35, 85, 45), (45, 105, 60), (40, 95, 90), (45, 150, 190), (40, 100, 185), (45, 55, 150),
                     (85, 95, 105))
SIDEWALK_COLOURS_BGR = ((160, 165, 170), (110, 120, 175), (150, 175, 195))
MANIFEST = 'synthetic_manifest.json'
SPLITS = ('train', 'val', 'unlabeled')
# The look of the scenes: bump it whenever generate_scene draws differently (test_scene_pixels_are_pinned
# fails until then), so that a dataset an older generator wrote is made again instead of silently reused.
# Manifests without it were written by version 1.
GENERATOR_VERSION = 2


@dataclass
class Canvas:
    """The scene being painted: float BGR image, class labels and shared pixel grids."""
    image: np.ndarray
    label: np.ndarray
    scale: float  # size / 256: object sizes below are given in pixels of a 256 px scene
    xx: np.ndarray
    yy: np.ndarray
    grain: np.ndarray  # fine zero-mean texture shared by all surfaces

    @property
    def size(self) -> int:
        """Side length of the square scene in pixels."""
        return self.label.shape[0]


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-variance noise field with features about ``size / cells`` pixels wide."""
    coarse = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / (field.std() + 1e-6)


def polygon_mask(size: int, points) -> np.ndarray:
    """Boolean ``(size, size)`` mask of the filled polygon through ``points`` (x, y)."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(points)).astype(np.int32)], 1)
    return mask.view(bool)


def line_mask(size: int, start, end, width: float) -> np.ndarray:
    """Boolean ``(size, size)`` mask of a straight line from ``start`` to ``end`` (at least 1 px wide)."""
    mask = np.zeros((size, size), np.uint8)
    cv2.line(mask, point(start), point(end), 1, max(1, int(round(width))))
    return mask.view(bool)


def point(xy) -> Tuple[int, int]:
    """``(x, y)`` rounded to integer pixel coordinates, as OpenCV's drawing functions want them."""
    return int(round(xy[0])), int(round(xy[1]))


def rotated_rectangle(centre, length: float, width: float, angle: float) -> np.ndarray:
    """Corners ``a, b, c, d`` of a rectangle; ``a -> b`` is the long side, along ``angle`` (radians)."""
    along = np.array([np.cos(angle), np.sin(angle)]) * length / 2
    across = np.array([-np.sin(angle), np.cos(angle)]) * width / 2
    centre = np.asarray(centre, float)
    return np.array([centre - along - across, centre + along - across,
                     centre + along + across, centre - along + across])


def blob_mask(rng: np.random.Generator, canvas: Canvas, centre, radius: float) -> np.ndarray:
    """An irregular, roughly round region (ponds, bare soil)."""
    distance = np.hypot(canvas.xx - centre[0], canvas.yy - centre[1]) / radius
    wobble = smooth_noise(rng, canvas.size, 5)
    return (1 - distance + 0.35 * wobble) > 0


def paint(canvas: Canvas, mask: np.ndarray, colour, texture=None, strength: float = 0.0, cls=None) -> None:
    """Paint ``colour`` modulated by ``1 + strength * texture`` inside ``mask``; label it ``cls`` if given."""
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    window = (slice(y, y + h), slice(x, x + w))  # indexing only the bounding box keeps small objects cheap
    inside = mask[window]
    texture = canvas.grain if texture is None else texture
    shade = 1.0 + strength * texture[window][inside]
    canvas.image[window][inside] = np.clip(np.asarray(colour, np.float32)[None] * shade[:, None], 0, 255)
    if cls is not None:
        canvas.label[window][inside] = cls


def draw_grass(rng: np.random.Generator, canvas: Canvas) -> None:
    """Lawn and meadow: a patchy mix of two of the scene's grass colours with grassy grain."""
    green, dry = (np.array(GRASS_COLOURS_BGR[i], np.float32) + rng.uniform(-10, 10, 3)
                  for i in rng.choice(len(GRASS_COLOURS_BGR), 2, replace=False))
    mix = 1 / (1 + np.exp(-2.5 * smooth_noise(rng, canvas.size, 4) - rng.uniform(-1.5, 1.0)))
    base = green + mix[..., None] * (dry - green)
    patches = 1 + 0.08 * smooth_noise(rng, canvas.size, 16) + 0.09 * canvas.grain
    canvas.image[:] = base * patches[..., None]
    canvas.label[:] = LOW_VEGETATION


def draw_clutter(rng: np.random.Generator, canvas: Canvas) -> np.ndarray:
    """Bare soil and construction sites, sometimes a pond; all are Potsdam's clutter. Returns the water."""
    for _ in range(rng.integers(0, 3)):
        soil = blob_mask(rng, canvas, rng.uniform(0, canvas.size, 2), rng.uniform(20, 45) * canvas.scale)
        tracks = np.sin((canvas.xx * 0.7 + canvas.yy * 0.7) / (1.5 * canvas.scale)) * 0.4 + canvas.grain
        paint(canvas, soil, np.array([95, 125, 160]) + rng.uniform(-15, 15, 3), tracks, 0.12, CLUTTER)
        for _ in range(rng.integers(0, 6)):  # material piles and rubble
            pile = blob_mask(rng, canvas, rng.uniform(0, canvas.size, 2), rng.uniform(2, 5) * canvas.scale)
            paint(canvas, pile & soil, rng.uniform(120, 200) * np.ones(3), strength=0.15)
    water = np.zeros((canvas.size, canvas.size), bool)
    if rng.random() < 0.35:
        water = blob_mask(rng, canvas, rng.uniform(0.15, 0.85, 2) * canvas.size, rng.uniform(22, 40) * canvas.scale)
        depth = cv2.GaussianBlur(water.astype(np.float32), (0, 0), 4 * canvas.scale)  # shallow banks are lighter
        angle = rng.uniform(0, np.pi)
        ripples = np.sin((canvas.xx * np.cos(angle) + canvas.yy * np.sin(angle)) / (1.2 * canvas.scale)
                         + 3 * smooth_noise(rng, canvas.size, 6))
        shallow = np.array([100, 120, 80], np.float32)
        deep = np.array([85, 70, 35], np.float32) + rng.uniform(-8, 8, 3)
        colour = shallow + depth[water][:, None] * (deep - shallow)
        canvas.image[water] = colour * (1 + 0.04 * ripples[water])[:, None]
        canvas.label[water] = CLUTTER
    return water


def road_lines(rng: np.random.Generator, size: int, grid_angle: float):
    """Centre lines ``(start, end)`` of 2 to 4 roads on a slightly rotated grid, some ending at a T-junction."""
    lines = []
    for family in range(2):
        angle = grid_angle + family * np.pi / 2
        direction = np.array([np.cos(angle), np.sin(angle)])
        for _ in range(rng.integers(1, 3)):
            through = size / 2 + np.array([-direction[1], direction[0]]) * rng.uniform(-0.38, 0.38) * size
            start, end = through - direction * size, through + direction * size
            if family and rng.random() < 0.4:  # a side street branching off the first road
                first_start, first_end = lines[0]
                first_normal = np.array([first_start[1] - first_end[1], first_end[0] - first_start[0]])
                start = through + direction * np.dot(first_start - through, first_normal) / np.dot(direction,
                                                                                                    first_normal)
            lines.append((start, end))
    return lines


def draw_roads(rng: np.random.Generator, canvas: Canvas, lines) -> np.ndarray:
    """Asphalt roads along ``lines`` with sidewalks and dashed centre lines; returns the asphalt mask."""
    size, scale = canvas.size, canvas.scale
    width = rng.uniform(13, 18) * scale
    roads = [line_mask(size, start, end, width) for start, end in lines]
    asphalt = np.logical_or.reduce(roads)
    sidewalk = np.logical_or.reduce([line_mask(size, s, e, width + 8 * scale) for s, e in lines]) & ~asphalt
    paving = np.sin(canvas.xx / scale * 2.1) * np.sin(canvas.yy / scale * 2.1) * 0.3 + canvas.grain
    paving_colour = np.array(SIDEWALK_COLOURS_BGR[rng.integers(len(SIDEWALK_COLOURS_BGR))]) + rng.uniform(-12, 12)
    paint(canvas, sidewalk, paving_colour, paving, 0.06, IMPERVIOUS)
    wear = 0.6 * smooth_noise(rng, size, 8) + canvas.grain
    paint(canvas, asphalt, np.full(3, rng.uniform(65, 135)), wear, 0.08, IMPERVIOUS)
    for i, (start, end) in enumerate(lines):
        others = np.logical_or.reduce([r for j, r in enumerate(roads) if j != i] or [np.zeros_like(asphalt)])
        dashes = dashed_line(size, start, end, 7 * scale, 6 * scale, 1.3 * scale)
        paint(canvas, dashes & roads[i] & ~others, (225, 228, 230), strength=0.03)
    return asphalt


def dashed_line(size: int, start, end, dash: float, gap: float, width: float) -> np.ndarray:
    """Boolean ``(size, size)`` mask of a dashed line: ``dash`` px strokes separated by ``gap`` px."""
    mask = np.zeros((size, size), np.uint8)
    length = np.linalg.norm(end - start)
    direction = (end - start) / length
    for t in np.arange(0, length, dash + gap):
        a, b = start + direction * t, start + direction * (t + dash)
        cv2.line(mask, point(a), point(b), 1, max(1, int(round(width))))
    return mask.view(bool)


def draw_parking_lot(rng: np.random.Generator, canvas: Canvas, grid_angle: float, blocked: np.ndarray):
    """A marked car park on free land, filled with parked cars; returns its mask (empty if none fits)."""
    scale, size = canvas.scale, canvas.size
    length, depth = rng.uniform(50, 80) * scale, rng.uniform(28, 36) * scale
    for _ in range(20):
        centre = rng.uniform(0.15, 0.85, 2) * size
        lot = polygon_mask(size, rotated_rectangle(centre, length, depth, grid_angle))
        if not (lot & blocked).any():
            break
    else:
        return np.zeros((size, size), bool)
    paint(canvas, lot, np.full(3, rng.uniform(105, 125)), strength=0.07, cls=IMPERVIOUS)
    along = np.array([np.cos(grid_angle), np.sin(grid_angle)])
    across = np.array([-along[1], along[0]])
    bay = 7 * scale
    cars = np.zeros_like(lot)
    bay_lines = np.zeros((size, size), np.uint8)
    slots = []
    for row in (-1, 1):
        row_centre = centre + across * row * depth / 4
        for k in range(int(length // bay)):
            offset = (k + 0.5 - length / bay / 2) * bay
            edge = row_centre + along * (offset - bay / 2)
            cv2.line(bay_lines, point(edge - across * depth / 5), point(edge + across * depth / 5), 1,
                     max(1, int(scale)))
            slots.append((row, row_centre + along * offset))
    paint(canvas, bay_lines.view(bool) & lot, (220, 222, 225))
    for row, slot in slots:
        if rng.random() < 0.6:
            car_angle = grid_angle + np.pi / 2 + (np.pi if row > 0 else 0) + rng.normal(0, 0.04)
            cars |= draw_car(rng, canvas, slot, car_angle, lot & ~cars)
    return lot


def draw_car(rng: np.random.Generator, canvas: Canvas, centre, angle: float, allowed: np.ndarray) -> np.ndarray:
    """A car (body, windscreen, rear window) if its body lies inside ``allowed``; returns its body mask."""
    scale, size = canvas.scale, canvas.size
    body = polygon_mask(size, rotated_rectangle(centre, 9.5 * scale, 4.6 * scale, angle))
    if not body.any() or (body & ~allowed).any():
        return np.zeros_like(body)
    colour = np.asarray(CAR_COLOURS_BGR[rng.integers(len(CAR_COLOURS_BGR))], np.float32)
    paint(canvas, body, colour, strength=0.04, cls=CAR)
    heading = np.array([np.cos(angle), np.sin(angle)])
    glass = np.array([40, 38, 35], np.float32)
    for offset, length in ((1.6, 1.9), (-3.0, 1.2)):  # windscreen forward of centre, rear window behind
        window = rotated_rectangle(np.asarray(centre) + heading * offset * scale, length * scale, 3.8 * scale, angle)
        paint(canvas, polygon_mask(size, window) & body, glass, strength=0.02)
    roof = rotated_rectangle(np.asarray(centre) - heading * 0.6 * scale, 2.6 * scale, 3.4 * scale, angle)
    paint(canvas, polygon_mask(size, roof) & body, colour * 1.08, strength=0.03)
    return body


def draw_road_cars(rng: np.random.Generator, canvas: Canvas, lines, asphalt: np.ndarray, count: int) -> np.ndarray:
    """Cars driving in the right-hand lane of randomly chosen roads."""
    cars = np.zeros_like(asphalt)
    for _ in range(count):
        start, end = lines[rng.integers(len(lines))]
        direction = (end - start) / np.linalg.norm(end - start)
        forward = rng.random() < 0.5
        lane = np.array([-direction[1], direction[0]]) * 3.4 * canvas.scale * (1 if forward else -1)
        centre = start + (end - start) * rng.uniform(0, 1) + lane
        angle = np.arctan2(direction[1], direction[0]) + (0 if forward else np.pi) + rng.normal(0, 0.03)
        cars |= draw_car(rng, canvas, centre, angle, asphalt & ~cars)
    return cars


def facet_brightness(downslope) -> float:
    """Relative brightness of a roof facet whose downhill direction is ``downslope`` (image plane)."""
    downslope = np.asarray(downslope, float) / (np.linalg.norm(downslope) + 1e-9)
    return 0.88 + 0.4 * float(np.dot(downslope, TOWARDS_SUN))


def draw_pitched_roof(rng: np.random.Generator, canvas: Canvas, corners: np.ndarray, hip: bool,
                      tile_rows: np.ndarray) -> None:
    """Gable (two facets) or hip (four facets) roof; facets towards the sun are brighter. ``tile_rows`` is
    a stripe texture running along the ridge."""
    a, b, c, d = corners
    colour = np.asarray(ROOF_COLOURS_BGR[rng.integers(len(ROOF_COLOURS_BGR))], np.float32)
    ridge_start, ridge_end = (a + d) / 2, (b + c) / 2
    along, across = b - a, d - a
    facets = [([a, b, ridge_end, ridge_start], -across), ([ridge_start, ridge_end, c, d], across)]
    if hip:
        inset = along * min(0.3, np.linalg.norm(across) / np.linalg.norm(along) / 2)
        ridge_start, ridge_end = ridge_start + inset, ridge_end - inset
        facets = [([a, b, ridge_end, ridge_start], -across), ([ridge_start, ridge_end, c, d], across),
                  ([a, ridge_start, d], -along), ([b, c, ridge_end], along)]
    texture = 0.5 * tile_rows + canvas.grain
    for points, downslope in facets:
        paint(canvas, polygon_mask(canvas.size, points), colour * facet_brightness(downslope), texture, 0.07, BUILDING)
    paint(canvas, line_mask(canvas.size, ridge_start, ridge_end, canvas.scale), colour * 0.75, strength=0.03)


def draw_flat_roof(rng: np.random.Generator, canvas: Canvas, corners: np.ndarray) -> None:
    """Flat roof: gravel or membrane texture, a lighter parapet and rooftop units with small shadows."""
    colour = np.asarray(FLAT_ROOF_COLOURS_BGR[rng.integers(len(FLAT_ROOF_COLOURS_BGR))], np.float32)
    roof = polygon_mask(canvas.size, corners)
    paint(canvas, roof, colour * 1.12, strength=0.04, cls=BUILDING)
    centre = corners.mean(0)
    inner = centre + (corners - centre) * 0.88
    paint(canvas, polygon_mask(canvas.size, inner), colour, 0.5 * smooth_noise(rng, canvas.size, 24) + canvas.grain,
          0.1)
    a, b, _, d = corners
    angle = np.arctan2(*(b - a)[::-1])
    for _ in range(rng.integers(0, 4)):
        spot = a + rng.uniform(0.2, 0.8) * (b - a) + rng.uniform(0.25, 0.75) * (d - a)
        unit = rotated_rectangle(spot, rng.uniform(3, 6) * canvas.scale, rng.uniform(3, 4) * canvas.scale, angle)
        shadow = polygon_mask(canvas.size, unit - TOWARDS_SUN * 1.5 * canvas.scale) & roof
        paint(canvas, shadow, colour * 0.55)
        paint(canvas, polygon_mask(canvas.size, unit) & roof, np.full(3, 200.0), strength=0.03)


def draw_buildings(rng: np.random.Generator, canvas: Canvas, grid_angle: float, blocked: np.ndarray) -> np.ndarray:
    """Buildings aligned with the street grid on free land, not touching each other; returns footprints."""
    size, scale = canvas.size, canvas.scale
    footprints = np.zeros((size, size), bool)
    keep_out = cv2.dilate(blocked.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, int(2 * scale)))
    keep_out = keep_out.view(bool)
    # tile rows run along the ridge, so their stripes vary across it: one texture per grid orientation
    tile_rows = [np.sin((canvas.xx * -np.sin(a) + canvas.yy * np.cos(a)) / (0.7 * scale))
                 for a in (grid_angle, grid_angle + np.pi / 2)]
    for _ in range(int(60 * scale ** 2)):
        length, width = rng.uniform(22, 60) * scale, rng.uniform(16, 30) * scale
        orientation = rng.integers(2)
        angle = grid_angle + orientation * np.pi / 2 + rng.normal(0, 0.02)
        corners = rotated_rectangle(rng.uniform(0, size, 2), length, width, angle)
        footprint = polygon_mask(size, corners)
        if footprint.sum() < 0.5 * length * width or (footprint & keep_out).any():
            continue  # mostly outside the scene, or on a road, another building or water
        kind = rng.choice(3, p=[0.45, 0.25, 0.3])
        if kind == 2:
            draw_flat_roof(rng, canvas, corners)
        else:
            draw_pitched_roof(rng, canvas, corners, bool(kind), tile_rows[orientation])
        footprints |= footprint
        keep_out |= cv2.dilate(footprint.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=3).view(bool)
        if footprints.mean() > 0.25:
            break
    return footprints


def draw_crown(rng: np.random.Generator, canvas: Canvas, centre, radius: float, colour, blocked) -> np.ndarray:
    """One lobed tree crown shaded as a dome lit from the sun side, painted in a local window."""
    size = canvas.size
    x0, y0 = (max(0, int(c - 1.5 * radius)) for c in centre)
    x1, y1 = (min(size, int(c + 1.5 * radius) + 1) for c in centre)
    if x0 >= x1 or y0 >= y1:
        return np.zeros((size, size), bool)
    dx, dy = canvas.xx[y0:y1, x0:x1] - centre[0], canvas.yy[y0:y1, x0:x1] - centre[1]
    theta = np.arctan2(dy, dx)
    lobes = sum(rng.uniform(0, 0.1) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in (3, 5, 7))
    rim = radius * (1 + lobes + 0.06 * canvas.grain[y0:y1, x0:x1])
    inside = (np.hypot(dx, dy) < rim) & ~blocked[y0:y1, x0:x1]
    height = np.sqrt(np.clip(1 - (dx ** 2 + dy ** 2) / rim ** 2, 0, 1))
    sunward = (dx * TOWARDS_SUN[0] + dy * TOWARDS_SUN[1]) / rim
    light = 0.5 + 0.45 * height + 0.35 * sunward + 0.2 * canvas.grain[y0:y1, x0:x1]
    canvas.image[y0:y1, x0:x1][inside] = np.clip(np.asarray(colour, np.float32) * light[inside][:, None], 0, 255)
    canvas.label[y0:y1, x0:x1][inside] = TREE
    crown = np.zeros((size, size), bool)
    crown[y0:y1, x0:x1] = inside
    return crown


def draw_trees(rng: np.random.Generator, canvas: Canvas, blocked: np.ndarray, lines) -> np.ndarray:
    """Clusters of crowns in gardens and parks plus some street trees; returns the crown mask."""
    scale = canvas.scale
    crowns = np.zeros_like(blocked)
    centres = [rng.uniform(0, canvas.size, 2) for _ in range(rng.integers(3, 8))]
    spread = [rng.uniform(8, 22) * scale for _ in centres]
    for start, end in lines[:rng.integers(0, 3)]:  # an avenue along some roads
        side = np.array([-(end - start)[1], (end - start)[0]]) / np.linalg.norm(end - start) * rng.choice([-1, 1])
        for t in np.arange(rng.uniform(0, 0.1), 1, rng.uniform(0.04, 0.07)):
            centres.append(start + (end - start) * t + side * 15 * scale)
            spread.append(0.5 * scale)
    for cluster, sigma in zip(centres, spread):
        species = np.array(CROWN_COLOURS_BGR[rng.integers(len(CROWN_COLOURS_BGR))], np.float32)
        species += rng.uniform(-12, 12, 3)
        for _ in range(1 if sigma < scale else rng.integers(4, 16)):
            centre = cluster + rng.normal(0, sigma, 2)
            radius = rng.uniform(5, 12) * scale
            crowns |= draw_crown(rng, canvas, centre, radius, species * rng.uniform(0.9, 1.1), blocked)
    return crowns


def cast_shadows(canvas: Canvas, casters) -> None:
    """Darken what lies down-sun of each ``(mask, height_px)`` caster, softly; labels are unchanged."""
    size = canvas.size
    darkness = np.zeros((size, size), np.float32)
    above = np.zeros((size, size), bool)  # pixels of casters drawn so far, taller first: not shaded by lower ones
    for mask, height in casters:
        dx, dy = (-TOWARDS_SUN * height * canvas.scale).round().astype(int)
        # dilating with a line anchored at its far end sweeps the mask along the shadow direction
        kernel = np.zeros((dy + 1, dx + 1), np.uint8)
        cv2.line(kernel, (0, 0), (dx, dy), 1)
        swept = cv2.dilate(mask.astype(np.uint8), kernel, anchor=(dx, dy)).view(bool)
        darkness = np.maximum(darkness, (swept & ~mask & ~above).astype(np.float32))
        above |= mask
    darkness = cv2.GaussianBlur(darkness, (0, 0), 0.8 * canvas.scale)
    factor = 1 - darkness[..., None] * (1 - SHADOW_TINT_BGR)
    canvas.image *= factor


def finish(rng: np.random.Generator, canvas: Canvas) -> np.ndarray:
    """Sensor look: global exposure and colour balance, a brightness gradient, noise, slight blur."""
    size = canvas.size
    gain = rng.uniform(0.85, 1.15) * (1 + rng.uniform(-0.1, 0.1, 3))  # exposure and colour balance differ
    tilt = rng.uniform(-0.06, 0.06, 2)
    gradient = 1 + (tilt[0] * canvas.xx + tilt[1] * canvas.yy) / size - tilt.sum() / 2
    image = canvas.image * gain.astype(np.float32) * gradient[..., None]
    image += rng.normal(0, 2.5, image.shape).astype(np.float32)
    image = cv2.GaussianBlur(np.clip(image, 0, 255), (0, 0), 0.6 * canvas.scale)
    return image.round().astype(np.uint8)


def generate_scene(seed: int, size: int = 256) -> Tuple[np.ndarray, np.ndarray]:
    """One synthetic aerial scene: ``(image, label)``, a uint8 BGR ``size x size x 3`` image and a uint8
    ``size x size`` map of class indices in ``POTSDAM_CLASSES`` order. Deterministic for ``seed`` and ``size``."""
    rng = np.random.default_rng([seed, size])
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    scale = size / 256
    grain = 0.7 * rng.standard_normal((size, size)).astype(np.float32) + 0.5 * smooth_noise(rng, size, size // 3)
    canvas = Canvas(np.zeros((size, size, 3), np.float32), np.zeros((size, size), np.uint8), scale, xx, yy, grain)
    grid_angle = rng.uniform(-0.35, 0.35)
    draw_grass(rng, canvas)
    water = draw_clutter(rng, canvas)
    lines = road_lines(rng, size, grid_angle)
    asphalt = draw_roads(rng, canvas, lines)
    paved = canvas.label == IMPERVIOUS
    lot = draw_parking_lot(rng, canvas, grid_angle, paved | water) if rng.random() < 0.5 else np.zeros_like(water)
    buildings = draw_buildings(rng, canvas, grid_angle, paved | lot | water)
    trees = draw_trees(rng, canvas, buildings | asphalt | lot | water, lines)
    draw_road_cars(rng, canvas, lines, asphalt & ~trees, int(rng.integers(3, 12) * scale ** 2))
    cars = canvas.label == CAR
    cast_shadows(canvas, [(buildings, 9), (trees, 6), (cars, 1.5)])
    return finish(rng, canvas), canvas.label


def scene_seed(seed: int, split: str, index: int) -> int:
    """Seed of scene ``index`` of ``split``: independent of how many scenes are generated, distinct per split."""
    return int(np.random.SeedSequence([seed, SPLITS.index(split), index]).generate_state(1, np.uint64)[0])


def write_png(path: str, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` with OpenCV, creating its folder; ``OSError`` if it cannot."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, array):
        raise OSError(f'could not write {path}')


def dataset_info(out_dir: str, params: Dict) -> Dict:
    """What :func:`make_synthetic_potsdam` returns: ``params`` plus the classes and the dataset's paths."""
    return dict(params, out_dir=out_dir, classes=list(POTSDAM_CLASSES),
                img_dir=osp.join(out_dir, 'img_dir'), ann_dir=osp.join(out_dir, 'ann_dir'),
                unlabeled_dir=osp.join(out_dir, 'unlabeled'), manifest=osp.join(out_dir, MANIFEST))


def scene_files(params: Dict):
    """``(split, index, image path, label path or None)`` of every scene written for ``params``, relative to
    the dataset folder."""
    for split, count in zip(SPLITS, (params['num_train'], params['num_val'], params['num_unlabeled'])):
        for i in range(count):
            name = f'synth_{split}_{i:04d}.png'
            if split == 'unlabeled':
                yield split, i, osp.join('unlabeled', name), None
            else:
                yield split, i, osp.join('img_dir', split, name), osp.join('ann_dir', split, name)


def is_outdated_synthetic_dataset(out_dir: str, found, params: Dict) -> bool:
    """Whether ``out_dir`` is a dataset an older generator made with ``params`` (its manifest says so) that
    holds nothing but the files it wrote, so that making it again loses nothing."""
    if not isinstance(found, dict) or found.get('generator_version', 1) >= GENERATOR_VERSION:
        return False
    if {k: v for k, v in found.items() if k != 'generator_version'} != \
            {k: v for k, v in params.items() if k != 'generator_version'}:
        return False
    present = {osp.relpath(osp.join(folder, name), out_dir)
               for folder, _, names in os.walk(out_dir) for name in names}
    return present == {MANIFEST} | {path for _, _, *paths in scene_files(found) for path in paths if path}


def existing_params(out_dir: str):
    """The parameters recorded in ``out_dir``'s manifest, or None if there is no readable manifest."""
    try:
        with open(osp.join(out_dir, MANIFEST)) as f:
            return json.load(f).get('params')
    except (OSError, ValueError, AttributeError):
        return None


def make_synthetic_potsdam(out_dir: str, num_train: int = 16, num_val: int = 4, num_unlabeled: int = 32,
                           size: int = 256, seed: int = 0) -> Dict:
    """Write synthetic scenes in mmseg's converted Potsdam layout plus an unlabeled image folder.

    ``img_dir/{train,val}/synth_<split>_<i>.png`` (RGB on disk), ``ann_dir/{train,val}/...png`` (0 = ignore,
    k = ``POTSDAM_CLASSES[k - 1]``, for ``reduce_zero_label=True``), ``unlabeled/...png`` and
    ``synthetic_manifest.json``. If ``out_dir`` already holds a dataset made with the same parameters it is
    left as it is. One made with the same parameters by an older :data:`GENERATOR_VERSION`, holding nothing
    but its own files, is made again (with a warning); any other non-empty ``out_dir`` raises
    ``FileExistsError`` and nothing is overwritten. Files go to a temporary sibling folder renamed at the end,
    so an interrupted run leaves the old or the new complete dataset, never a partial one.
    Returns the parameters, the class names and the paths.
    """
    params = dict(num_train=num_train, num_val=num_val, num_unlabeled=num_unlabeled, size=size, seed=seed,
                  generator_version=GENERATOR_VERSION)
    info = dataset_info(out_dir, params)
    recover_interrupted_output(out_dir)
    replace = False
    if osp.exists(out_dir) and not (osp.isdir(out_dir) and not os.listdir(out_dir)):
        found = existing_params(out_dir)
        if found == params:
            return info
        replace = is_outdated_synthetic_dataset(out_dir, found, params)
        if not replace:
            raise FileExistsError(f'{out_dir} already exists and does not hold a synthetic dataset made with '
                                  f'{params}; nothing was overwritten (choose a new folder)')
        print_log(f'{out_dir} was made by synthetic scene generator version {found.get("generator_version", 1)}; '
                  f'making it again with version {GENERATOR_VERSION}', logger='current', level=logging.WARNING)
    staging = make_staging_dir(out_dir)
    try:
        for split, i, image_path, label_path in scene_files(params):
            image, label = generate_scene(scene_seed(seed, split, i), size)
            write_png(osp.join(staging, image_path), image)
            if label_path:
                write_png(osp.join(staging, label_path), label + 1)
        with open(osp.join(staging, MANIFEST), 'w') as f:
            json.dump(dict(params=params, classes=list(POTSDAM_CLASSES),
                           label_coding='0 = ignore, k = classes[k - 1]'), f, indent=2)
        publish_dir(staging, out_dir, replace=replace)  # refuses if something appeared since the check above
    finally:
        if osp.isdir(staging):
            shutil.rmtree(staging)
    return info
