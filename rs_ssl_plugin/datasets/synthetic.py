"""Seeded procedural aerial scenes with ISPRS Potsdam's six classes, for tests and the demo.

A scene is composed bottom-up: textured grass, bare-soil clutter and sometimes a pond (clutter), a road
network with lane markings, sidewalks and a parking lot (impervious), buildings with shaded gable, hip or
flat roofs, tree clusters with lit crowns, cars on the asphalt, then cast shadows (which darken the image
but keep the ground's label, as in Potsdam), sensor noise and a slight blur.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Tuple

import cv2
import numpy as np

POTSDAM_CLASSES = ('impervious_surface', 'building', 'low_vegetation', 'tree', 'car', 'clutter')
IMPERVIOUS, BUILDING, LOW_VEGETATION, TREE, CAR, CLUTTER = range(6)
SUN_SHADOW_DIRECTION = np.array([1.0, 0.6])  # shadows fall towards +x, +y (sun in the north-west)

ROOF_COLOURS_BGR = ((52, 72, 168), (40, 55, 130), (150, 150, 150), (85, 85, 92), (150, 175, 195))
CAR_COLOURS_BGR = ((230, 230, 230), (30, 30, 30), (40, 40, 170), (160, 90, 30), (140, 140, 140), (60, 150, 200))


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-variance noise with features about ``size / cells`` pixels wide."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / (field.std() + 1e-6)


def fill(image, label, mask, colour, texture, strength, cls=None):
    """Paint ``colour`` modulated by ``texture`` where ``mask`` is set, and set the label there."""
    shade = 1.0 + strength * texture[mask][:, None]
    image[mask] = np.clip(np.asarray(colour, np.float32)[None] * shade, 0, 255)
    if cls is not None:
        label[mask] = cls


def polygon_mask(size: int, points) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(points)).astype(np.int32)], 1)
    return mask.astype(bool)


def draw_ground(rng, image, label, size, scale, texture):
    grass = np.array([70, 140, 95], np.float32) + rng.uniform(-15, 15, 3)
    variation = smooth_noise(rng, size, 6)
    base = grass[None, None] * (1 + 0.12 * variation[..., None] + 0.08 * texture[..., None])
    image[:] = np.clip(base, 0, 255)
    label[:] = LOW_VEGETATION
    soil = smooth_noise(rng, size, 4) > rng.uniform(1.0, 1.6)
    fill(image, label, soil, (85, 115, 150), texture, 0.15, CLUTTER)
    if rng.random() < 0.4:
        pond = smooth_noise(rng, size, 3) < -rng.uniform(1.3, 1.7)
        ripples = np.sin(np.arange(size) / (2.5 * scale))[None, :] * 0.5 + 0.5 * texture
        fill(image, label, pond, (110, 95, 45), ripples, 0.08, CLUTTER)


def draw_roads(rng, image, label, size, scale, texture):
    """Straight roads across the scene, with sidewalks, dashed centre lines and sometimes a car park."""
    road = np.zeros((size, size), np.uint8)
    sidewalk = np.zeros((size, size), np.uint8)
    markings = np.zeros((size, size), np.uint8)
    centre_lines = []
    for orientation in rng.permutation(2)[:rng.integers(1, 3)]:
        for _ in range(rng.integers(1, 3)):
            offset = rng.uniform(0.15, 0.85) * size
            tilt = rng.uniform(-0.15, 0.15) * size
            start, end = (offset, -5), (offset + tilt, size + 5)
            if orientation:
                start, end = start[::-1], end[::-1]
            width = int(rng.uniform(9, 15) * scale)
            p0, p1 = tuple(int(v) for v in start), tuple(int(v) for v in end)
            cv2.line(sidewalk, p0, p1, 1, width + int(6 * scale))
            cv2.line(road, p0, p1, 1, width)
            centre_lines.append((np.array(start), np.array(end)))
    if rng.random() < 0.5:
        x, y = rng.uniform(0.1, 0.6, 2) * size
        w, h = rng.uniform(0.2, 0.3, 2) * size
        cv2.rectangle(road, (int(x), int(y)), (int(x + w), int(y + h)), 1, -1)
        for i in range(int(w // (8 * scale))):
            xs = int(x + (i + 0.5) * 8 * scale)
            cv2.line(markings, (xs, int(y + 2)), (xs, int(y + 10 * scale)), 1, max(1, int(scale)))
    for start, end in centre_lines:
        length = np.linalg.norm(end - start)
        direction = (end - start) / length
        for t in np.arange(0, length, 12 * scale):
            a, b = start + direction * t, start + direction * (t + 6 * scale)
            cv2.line(markings, tuple(int(v) for v in a), tuple(int(v) for v in b), 1, max(1, int(scale)))
    fill(image, label, sidewalk.astype(bool), (165, 168, 172), texture, 0.06, IMPERVIOUS)
    fill(image, label, road.astype(bool), (98, 100, 104), texture, 0.10, IMPERVIOUS)
    fill(image, label, (markings & road).astype(bool), (235, 235, 235), texture, 0.03)
    return road.astype(bool), sidewalk.astype(bool)


def rotated_rectangle(centre, length, width, angle):
    """Corners of a rectangle whose long side (``length``) points along ``angle`` (radians)."""
    along = np.array([np.cos(angle), np.sin(angle)]) * length / 2
    across = np.array([-np.sin(angle), np.cos(angle)]) * width / 2
    return np.array([centre - along - across, centre + along - across,
                     centre + along + across, centre - along + across])


def draw_roof(rng, image, label, size, corners, texture):
    """Gable (two shaded halves), hip (four facets) or flat (texture and vents) roof."""
    colour = np.asarray(ROOF_COLOURS_BGR[rng.integers(len(ROOF_COLOURS_BGR))], np.float32)
    a, b, c, d = corners
    kind = rng.choice(['gable', 'hip', 'flat'], p=[0.45, 0.3, 0.25])
    if kind == 'flat':
        mask = polygon_mask(size, corners)
        fill(image, label, mask, colour * 0.9, texture, 0.12, BUILDING)
        for _ in range(rng.integers(1, 4)):
            u, v = rng.uniform(0.2, 0.8, 2)
            centre = a + u * (b - a) + v * (d - a)
            vent = rotated_rectangle(centre, 3, 3, 0)
            fill(image, label, polygon_mask(size, vent) & mask, colour * 0.55, texture, 0.05)
        return
    mid_ad, mid_bc = (a + d) / 2, (b + c) / 2
    if kind == 'gable':
        facets = [([a, b, mid_bc, mid_ad], 1.15), ([mid_ad, mid_bc, c, d], 0.7)]
    else:
        inset = (mid_bc - mid_ad) * 0.25
        r0, r1 = mid_ad + inset, mid_bc - inset
        facets = [([a, b, r1, r0], 1.15), ([r0, r1, c, d], 0.7), ([a, r0, d], 0.95), ([b, c, r1], 0.85)]
    for points, brightness in facets:
        fill(image, label, polygon_mask(size, points), colour * brightness, texture, 0.08, BUILDING)
    ridge = np.zeros((size, size), np.uint8)
    cv2.line(ridge, tuple(int(v) for v in mid_ad), tuple(int(v) for v in mid_bc), 1, 1)
    fill(image, label, ridge.astype(bool), colour * 0.5, texture, 0.0)


def draw_buildings(rng, image, label, size, scale, texture, blocked):
    """Place non-overlapping buildings away from roads; returns their footprint mask."""
    footprints = np.zeros((size, size), bool)
    grid_angle = rng.uniform(-0.2, 0.2)
    for _ in range(int(rng.integers(4, 10) * (size / 256) ** 2) + 40):
        length, width = rng.uniform(18, 55) * scale, rng.uniform(14, 30) * scale
        angle = grid_angle + rng.choice([0, np.pi / 2]) + rng.normal(0, 0.03)
        centre = rng.uniform(0.05, 0.95, 2) * size
        corners = rotated_rectangle(centre, length, width, angle)
        mask = polygon_mask(size, corners)
        margin = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        if not mask.any() or (margin & (blocked | footprints)).any():
            continue
        draw_roof(rng, image, label, size, corners, texture)
        footprints |= mask
        if footprints.mean() > 0.3:
            break
    return footprints


def draw_trees(rng, image, label, size, scale, texture, blocked):
    """Clusters of round crowns, lit on the sun side; returns the crown mask."""
    crowns = np.zeros((size, size), bool)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    for _ in range(rng.integers(2, 6)):
        cluster = rng.uniform(0, 1, 2) * size
        for _ in range(rng.integers(3, 12)):
            centre = cluster + rng.normal(0, 14 * scale, 2)
            radius = rng.uniform(4, 11) * scale
            dist = np.hypot(xx - centre[0], yy - centre[1])
            crown = (dist < radius * (1 + 0.15 * texture)) & ~blocked
            if not crown.any():
                continue
            light = 1.25 - 0.5 * np.clip(((xx - centre[0]) * 0.8 + (yy - centre[1]) * 0.6) / radius + 0.5, 0, 1)
            green = np.array([40, 105, 45], np.float32) + rng.uniform(-10, 10, 3)
            image[crown] = np.clip(green[None] * (light[crown] + 0.18 * texture[crown])[:, None], 0, 255)
            label[crown] = TREE
            crowns |= crown
    return crowns


def draw_cars(rng, image, label, size, scale, texture, road):
    """Small rotated cars with a dark windscreen, only where they lie fully on asphalt."""
    cars = np.zeros((size, size), bool)
    for _ in range(int(rng.integers(3, 14) * (size / 256) ** 2) + 1):
        ys, xs = np.nonzero(road)
        if not len(xs):
            break
        i = rng.integers(len(xs))
        centre = np.array([xs[i], ys[i]], np.float32)
        angle = rng.choice([0, np.pi / 2]) + rng.normal(0, 0.1)
        corners = rotated_rectangle(centre, 9 * scale, 4.5 * scale, angle)
        body = polygon_mask(size, corners)
        if not body.any() or (body & ~road).any() or (body & cars).any():
            continue
        colour = CAR_COLOURS_BGR[rng.integers(len(CAR_COLOURS_BGR))]
        fill(image, label, body, colour, texture, 0.05, CAR)
        front = rotated_rectangle(centre + 2.2 * scale * np.array([np.cos(angle), np.sin(angle)]),
                                  1.8 * scale, 4 * scale, angle)
        fill(image, label, polygon_mask(size, front) & body, (40, 40, 45), texture, 0.02)
        cars |= body
    return cars


def cast_shadows(image, size, scale, objects):
    """Darken the ground next to tall objects along the sun direction (labels keep the ground class)."""
    shadow = np.zeros((size, size), bool)
    for mask, height in objects:
        dx, dy = (SUN_SHADOW_DIRECTION * height * scale).astype(int)
        shifted = np.zeros_like(mask)
        shifted[dy:, dx:] = mask[:size - dy, :size - dx]
        shadow |= shifted
    shadow &= ~np.logical_or.reduce([m for m, _ in objects])
    image[shadow] *= 0.55


def generate_scene(seed: int, size: int = 256) -> Tuple[np.ndarray, np.ndarray]:
    """One synthetic aerial scene: ``(image, label)``, uint8 BGR ``HxWx3`` and uint8 ``HxW`` class indices
    (``POTSDAM_CLASSES`` order). Deterministic for a given ``seed`` and ``size``."""
    rng = np.random.default_rng([seed, size])
    scale = size / 256
    image = np.zeros((size, size, 3), np.float32)
    label = np.zeros((size, size), np.uint8)
    texture = smooth_noise(rng, size, size // 3) * 0.6 + 0.4 * rng.standard_normal((size, size)).astype(np.float32)
    draw_ground(rng, image, label, size, scale, texture)
    road, sidewalk = draw_roads(rng, image, label, size, scale, texture)
    buildings = draw_buildings(rng, image, label, size, scale, texture, road | sidewalk)
    trees = draw_trees(rng, image, label, size, scale, texture, buildings | road)
    cars = draw_cars(rng, image, label, size, scale, texture, road & ~trees)
    cast_shadows(image, size, scale, [(buildings, 7), (trees, 4), (cars, 1)])
    image += rng.normal(0, 3, image.shape).astype(np.float32)
    image = cv2.GaussianBlur(np.clip(image, 0, 255), (3, 3), 0.6)
    return image.round().astype(np.uint8), label


def make_synthetic_potsdam(out_dir: str, num_train: int = 16, num_val: int = 4, num_unlabeled: int = 32,
                           size: int = 256, seed: int = 0) -> Dict:
    """Write synthetic scenes in mmseg's converted Potsdam layout plus an unlabeled folder.

    ``img_dir/{train,val}/*.png``, ``ann_dir/{train,val}/*.png`` (0 = ignore, 1..6 = classes, read with
    ``reduce_zero_label=True``) and ``unlabeled/*.png``. Idempotent: an ``out_dir`` generated with the same
    parameters is left as it is; any other non-empty ``out_dir`` raises ``FileExistsError`` and nothing
    is overwritten. Files are written to a temporary sibling folder that is renamed at the end.
    """
    params = dict(num_train=num_train, num_val=num_val, num_unlabeled=num_unlabeled, size=size, seed=seed)
    info = dict(params, out_dir=out_dir, classes=list(POTSDAM_CLASSES))
    manifest = osp.join(out_dir, 'synthetic_manifest.json')
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if osp.isfile(manifest):
            with open(manifest) as f:
                if json.load(f).get('params') == params:
                    return info
        raise FileExistsError(f'{out_dir} already exists and is not a synthetic dataset generated with '
                              f'{params}; nothing was overwritten (choose another folder or remove it)')
    parent = osp.dirname(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.synthetic_', dir=parent)
    try:
        splits = (('train', num_train, 0), ('val', num_val, 1), ('unlabeled', num_unlabeled, 2))
        for split, count, stream in splits:
            for i in range(count):
                image, label = generate_scene(seed * 1_000_003 + stream * 100_003 + i, size)
                name = f'synth_{split}_{i:04d}.png'
                if split == 'unlabeled':
                    write_png(osp.join(staging, 'unlabeled', name), image)
                else:
                    write_png(osp.join(staging, 'img_dir', split, name), image)
                    write_png(osp.join(staging, 'ann_dir', split, name), label + 1)
        with open(osp.join(staging, 'synthetic_manifest.json'), 'w') as f:
            json.dump(dict(params=params, classes=list(POTSDAM_CLASSES)), f, indent=2)
        if osp.isdir(out_dir):
            os.rmdir(out_dir)  # empty, checked above
        os.rename(staging, out_dir)
    finally:
        if osp.isdir(staging):
            shutil.rmtree(staging)
    return info


def write_png(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, array):
        raise OSError(f'could not write {path}')
