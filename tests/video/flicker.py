#!/usr/bin/python3
"""Flicker of stylized video, per-frame against the video session's cures: instance-norm
statistics smoothed over time, and blending with the warped previous output.

flicker = sum_t mean_{x visible in t-1 and t} |warp(S(t-1))(x) - S(t)(x)|
          / the same sum for the input frames I,
S the stylized frames, warp following the motion from frame t back to frame t-1 (bilinear),
means over the pixels and the three channels (0..255). Dividing by the input's own warp error
keeps interpolation and codec noise from being counted against the network: 1.0 means the
stylized clip changes as much along the motion as the input does.

Two sets:
  (a) synthetic clips from held-out photos (not in the models' training set: licence other
      than public domain / CC0 in the shared manifest) with known motion: a pan, a zoom and a
      small rotation (sub-pixel steps: 3.5 px a frame, 1.5 % zoom, 0.6 degrees, so that the
      input's own warp error, interpolation only, is not zero). The flow is exact (from the
      affine transforms); a pixel counts when its source in the previous frame lies inside
      that frame.
  (b) the real clip ../shared/datasets/video/cityCC0.mpg, flow from OpenCV's DIS optical flow
      (PRESET_MEDIUM) on the input frames, both directions; a pixel counts when the
      forward-backward check passes (|f_b + f_f(x + f_b)|^2 <= 0.01 (|f_b|^2 + |f_f|^2) + 0.5,
      Sundaram et al. 2010, as Ruder et al. use) and its source is inside the frame.
The library's cures use no flow of the evaluation: norm statistics smoothing none at all, the
temporal blend the library's own coarse-to-fine Lucas-Kanade estimate (src/image/motion_estimate.c),
so the evaluation's flow (exact, or DIS) is another one.

Also the style loss of stylized frames (Gatys style loss with the models' loss network and
training style size, libstyle.evaluate_losses) per-frame against smoothed, so stability is
not bought with a weaker style.

Run (from the repository root, after building):
  LIBSTYLE_LIBRARY=build/libstyle.so /usr/bin/python3 tests/video/flicker.py \
      --shared ../shared --width 320 --frames 30 --smoothing 0,0.9 models/starry-night.safetensors
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python"))
import libstyle  # noqa: E402


# ---- warping and the measure ------------------------------------------------------------------

def warp_error(prev: np.ndarray, cur: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
               valid: np.ndarray) -> float:
    """mean |prev warped to cur - cur| over the valid pixels and the channels."""
    warped = cv2.remap(prev.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(warped - cur.astype(np.float32)).mean(axis=2)
    return float(diff[valid].mean())


def flicker(frames_in: list, frames_out: list, motions: list) -> tuple:
    """(flicker, the stylized frames' mean warp error, the input's mean warp error)."""
    num = den = 0.0
    for t in range(1, len(frames_in)):
        map_x, map_y, valid = motions[t]
        num += warp_error(frames_out[t - 1], frames_out[t], map_x, map_y, valid)
        den += warp_error(frames_in[t - 1], frames_in[t], map_x, map_y, valid)
    pairs = len(frames_in) - 1
    return num / den, num / pairs, den / pairs


# ---- set (a): synthetic clips with exact motion ---------------------------------------------

def held_out_photos(shared: str, count: int) -> list:
    """Content photos of the shared set that are not public domain / CC0 (the bundled models
    trained on those), large enough, in name order."""
    root = os.path.join(shared, "datasets", "photos")
    chosen = []
    with open(os.path.join(root, "manifest.csv"), newline="") as f:
        for row in csv.DictReader(f):
            licence = row["license"].lower()
            if row["set"] != "content" or "public" in licence or "cc0" in licence:
                continue
            if int(row["out_w"]) >= 640 and int(row["out_h"]) >= 400:
                chosen.append(os.path.join(root, row["file"]))
    chosen.sort()
    step = max(1, len(chosen) // count)
    return chosen[::step][:count]


def affine(cx: float, cy: float, scale: float, angle: float, dx: float, fw: int, fh: int):
    """2x3 matrix mapping frame pixel -> photo pixel: rotate/scale about the frame centre,
    placed at photo point (cx + dx, cy)."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    ox, oy = (fw - 1) / 2.0, (fh - 1) / 2.0
    return np.array([[c, -s, cx + dx - c * ox + s * oy], [s, c, cy - s * ox - c * oy]])


def synthetic_clip(photo_path: str, kind: str, width: int, height: int, frames: int):
    """Frames (RGB uint8) of `kind` motion over a photo, and per frame t >= 1 the exact
    backward map into frame t-1 with its validity mask."""
    photo = cv2.imread(photo_path, cv2.IMREAD_COLOR)[:, :, ::-1]
    # the photo at a size where the frame covers ~60% of its shorter side
    factor = height / (0.6 * photo.shape[0])
    photo = cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    ph, pw = photo.shape[:2]
    cx, cy = pw / 2.0, ph / 2.0
    mats = []
    for t in range(frames):
        if kind == "pan":
            m = affine(cx - 2.0 * frames, cy, 1.0, 0.0, 3.5 * t, width, height)
        elif kind == "zoom":
            m = affine(cx, cy, 1.015 ** -t, 0.0, 0.0, width, height)
        else:  # rotation
            m = affine(cx, cy, 1.0, math.radians(0.6 * t), 0.0, width, height)
        mats.append(m)
    clip = [np.ascontiguousarray(cv2.warpAffine(photo, m, (width, height),
                                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                                borderMode=cv2.BORDER_REFLECT))
            for m in mats]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    pts = np.stack([xs, ys, np.ones_like(xs)], axis=-1)
    motions = [None]
    for t in range(1, frames):
        full = lambda m: np.vstack([m, [0, 0, 1]])  # noqa: E731
        back = np.linalg.inv(full(mats[t - 1])) @ full(mats[t])  # frame t -> frame t-1
        src = pts @ back[:2].T
        map_x, map_y = src[..., 0].astype(np.float32), src[..., 1].astype(np.float32)
        valid = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        motions.append((map_x, map_y, valid))
    return clip, motions


# ---- set (b): the real clip with DIS flow ---------------------------------------------------

def real_clip(path: str, width: int, frames: int, skip: int):
    cap = cv2.VideoCapture(path)
    clip = []
    index = 0
    while len(clip) < frames:
        ok, frame = cap.read()
        if not ok:
            break
        index += 1
        if index <= skip:
            continue
        height = int(round(frame.shape[0] * width / frame.shape[1] / 2)) * 2
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        clip.append(np.ascontiguousarray(frame[:, :, ::-1]))
    if len(clip) < 2:
        raise SystemExit("%s: could not read frames" % path)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip]
    h, w = gray[0].shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    motions = [None]
    for t in range(1, len(clip)):
        back = dis.calc(gray[t], gray[t - 1], None)   # t -> t-1
        fwd = dis.calc(gray[t - 1], gray[t], None)    # t-1 -> t
        map_x, map_y = xs + back[..., 0], ys + back[..., 1]
        fwd_at = cv2.remap(fwd, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        round_trip = back + fwd_at
        consistent = (round_trip ** 2).sum(-1) <= 0.01 * ((back ** 2).sum(-1) +
                                                          (fwd_at ** 2).sum(-1)) + 0.5
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        motions.append((map_x, map_y, consistent & inside))
    return clip, motions


# ---- stylizing and the style loss -----------------------------------------------------------

def stylize(model, clip: list, smoothing: float, blend: float, threads: int) -> tuple:
    with libstyle.VideoSession(model, smoothing=smoothing, blend=blend,
                               threads=threads) as video:
        start = time.monotonic()
        out = [video.push(frame) for frame in clip]
        return out, time.monotonic() - start


def training_settings(model) -> dict:
    raw = model.metadata.get("libstyle.training") if hasattr(model, "metadata") else None
    return json.loads(raw) if raw else {}


def style_loss(frames_in, frames_out, settings: dict, shared: str, picks: list) -> float:
    """Mean Gatys style loss (the trainer's layers and style size) of the picked frames."""
    style_image = os.path.join(shared, "datasets", "photos", "style",
                               os.path.basename(settings["style_image"]))
    loss_net = os.path.join(shared, "lossnets", os.path.basename(settings["loss_net"]))
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for t in picks:
            content = os.path.join(tmp, "in.png")
            result = os.path.join(tmp, "out.png")
            libstyle.save_image(content, frames_in[t])
            libstyle.save_image(result, frames_out[t])
            losses = libstyle.evaluate_losses(
                result, content=content, style_images=style_image, loss_net=loss_net,
                style_size=int(settings.get("style_size", 0)), style_weight=1.0,
                content_weight=-1.0, tv_weight=-1.0)
            total += losses["style"]
    return total / len(picks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                         "..", "shared"))
    parser.add_argument("--width", type=int, default=320, help="frame width (real clip resized)")
    parser.add_argument("--frames", type=int, default=30, help="frames of the real clip")
    parser.add_argument("--skip", type=int, default=0, help="real-clip frames skipped first")
    parser.add_argument("--synthetic-frames", type=int, default=10)
    parser.add_argument("--photos", type=int, default=1, help="held-out photos per motion")
    parser.add_argument("--smoothing", default="0,0.9", help="weights; 0 = per-frame")
    parser.add_argument("--blend", default="",
                        help="temporal blend weights, each run with smoothing 0 (e.g. 0.5,0.7)")
    parser.add_argument("--clips", default="",
                        help="only the clips whose name contains one of these (comma-separated)")
    parser.add_argument("--save-frames", help="folder: write each variant's frames of each clip")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--style-frames", type=int, default=2,
                        help="frames per clip whose style loss is computed (0: none)")
    parser.add_argument("--json", help="write all numbers here too")
    args = parser.parse_args()
    variants = [("w=%g" % float(w), float(w), 0.0) for w in args.smoothing.split(",")]
    variants += [("blend=%g" % float(b), 0.0, float(b)) for b in args.blend.split(",") if b]

    height = int(round(args.width * 9 / 16 / 2)) * 2
    clips = {}
    for photo in held_out_photos(args.shared, args.photos):
        for kind in ("pan", "zoom", "rotate"):
            name = "%s:%s" % (kind, os.path.basename(photo).split("__")[-1].rsplit(".", 1)[0])
            clips[name] = ("a",) + synthetic_clip(photo, kind, args.width, height,
                                                  args.synthetic_frames)
    video = os.path.join(args.shared, "datasets", "video", "cityCC0.mpg")
    clips["cityCC0"] = ("b",) + real_clip(video, args.width, args.frames, args.skip)

    if args.clips:
        wanted = args.clips.split(",")
        clips = {k: v for k, v in clips.items() if any(w in k for w in wanted)}
    results = []
    for model_path in args.models:
        model = libstyle.Model(model_path)
        settings = training_settings(model)
        name = os.path.basename(model_path).rsplit(".", 1)[0]
        for clip_name, (subset, frames_in, motions) in clips.items():
            picks = np.linspace(1, len(frames_in) - 1, args.style_frames).round().astype(int)
            row = {"model": name, "set": subset, "clip": clip_name,
                   "size": "%dx%d" % (frames_in[0].shape[1], frames_in[0].shape[0]),
                   "frames": len(frames_in)}
            for label, w, blend in variants:
                out, seconds = stylize(model, frames_in, w, blend, args.threads)
                ratio, styled_error, input_error = flicker(frames_in, out, motions)
                row["flicker " + label] = ratio
                row["warp error " + label] = styled_error
                row["input warp error"] = input_error
                row["seconds " + label] = seconds
                if args.style_frames and settings:
                    row["style " + label] = style_loss(frames_in, out, settings, args.shared,
                                                       list(picks))
                if args.save_frames:
                    folder = os.path.join(args.save_frames, name, clip_name.replace(":", "-"),
                                          label)
                    os.makedirs(folder, exist_ok=True)
                    for t, frame in enumerate(out):
                        libstyle.save_image(os.path.join(folder, "%03d.png" % t), frame)
            results.append(row)
            print(json.dumps(row), flush=True)
        model.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
