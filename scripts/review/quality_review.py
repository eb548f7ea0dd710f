#!/usr/bin/env python3
"""The quality review of issue 12: every method of the CLI side by side on real photos, one sheet per case.
Run it through scripts/quality-review (which makes the venv); `--help` lists the options.

For each photo of the review set (scripts/review-photos.txt, or the names given):
  inputs  the photo cropped around its focus point to 16:9 and to 4:3 and scaled with Lanczos (Pillow, sRGB
          values) to 640x360 and 640x480, saved as PNG; a photo of kind `camera` is also used as is (its JPEG).
  cases   each input at width 60 %, height 60 % and width 140 % (640x360 -> 384x360, 640x216, 896x360;
          640x480 -> 384x480, 640x288, 896x480); the camera original at 400x300 (the README line:
          w=400&h=300, same aspect) and 400x240.
  runs    per case, one at a time (deep uses every core): `scale`, `seam`, `deep` (operator seam, the
          default) and `deep --operator linear`, each with --mask-out and --report-json, through the CLI
          given by --bin, with the options given here passed on; the wall time of each process.
  sheet   sheets/<case>.png: tiles at their own size (never scaled down, except an input or mask wider than
          1024 px, which is shown at 640x480 at most), labelled; top row input | scale | mask (from the deep
          seam run), bottom row seam | deep/seam | deep/linear, so pixel seam and deep/seam sit side by side.
  metrics metrics.json and metrics.md: per case the wall times, deep's iterations and loss, and the proxies
          of scripts/review/metrics.py: SSIM against `scale` (same-aspect cases only), sharpness relative
          to pixel seam, 8-px blockiness, chroma shift against `scale`.
A run whose stamp (binary's sha256, arguments, input's sha256) matches the one stored beside its output is
not repeated; --force repeats it. Everything goes under --out (default bench-out/review, ignored by git).
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
import metrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CROPS = {"16:9": (640, 360), "4:3": (640, 480)}
SIZES = {"w60": ("width 60 %", 0.6, 1.0), "h60": ("height 60 %", 1.0, 0.6), "w140": ("width 140 %", 1.4, 1.0),
         # Not in the default set: one axis narrowed while the other grows (16:9 → 480×480), where the
         # working image is the source itself and both axes are content-aware.
         "w75h133": ("width 75 %, height 133 %", 0.75, 4 / 3)}
CAMERA_SIZES = [((400, 300), "400x300, the README line (same aspect)"), ((400, 240), "400x240")]
METHODS = ["scale", "seam", "deep-seam", "deep-linear"]
LABEL = {"scale": "scale", "seam": "seam (pixel)", "deep-seam": "deep/seam", "deep-linear": "deep/linear"}
GOAL_SSIM, GOAL_SHARP, BLOCKY = 0.9, 0.9, 1.1


# ---------------------------------------------------------------- the review set
def read_set(path):
    """Lines `NAME KINDS FOCUS WHY...`; KINDS comma-separated; FOCUS `fx,fy` (crop centre, fractions of the
    photo) for every crop, or per crop `16:9=fx,fy;4:3=fx,fy`."""
    photos = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 3)
        if len(parts) < 3:
            raise SystemExit(f"{path}:{n}: want NAME KINDS FOCUS WHY, got: {line}")
        try:
            focus = {}
            for item in parts[2].split(";"):
                crop, _, xy = item.rpartition("=")
                fx, fy = (float(v) for v in xy.split(","))
                for c in ([crop] if crop else CROPS):
                    if c not in CROPS:
                        raise ValueError(c)
                    focus[c] = (fx, fy)
        except ValueError:
            raise SystemExit(f"{path}:{n}: FOCUS is fx,fy or 16:9=fx,fy;4:3=fx,fy, got {parts[2]}")
        photos.append(dict(name=parts[0], kinds=parts[1].split(","), focus=focus,
                           why=parts[3] if len(parts) > 3 else ""))
    return photos


def photo_file(photos_dir, name):
    for ext in (".jpg", ".jpeg", ".png", ".JPG"):
        p = Path(photos_dir) / (name + ext)
        if p.exists():
            return p
    raise SystemExit(f"no photo {name}.jpg/.png in {photos_dir}: run scripts/fetch-photos")


def crop_scale(src, size, focus):
    """Crop to size's aspect around focus (fractions of the image), then Lanczos to size."""
    im = ImageOps.exif_transpose(Image.open(src)).convert("RGB")
    W, H = im.size
    tw, th = size
    if W * th > H * tw:
        ch, cw = H, round(H * tw / th)
    else:
        cw, ch = W, round(W * th / tw)
    left = min(max(round(focus[0] * W - cw / 2), 0), W - cw)
    top = min(max(round(focus[1] * H - ch / 2), 0), H - ch)
    return im.resize(size, Image.LANCZOS, box=(left, top, left + cw, top + ch))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- cases
def cases_for(photo, src, inputs_dir, crops, sizes, camera):
    out = []
    for crop in crops:
        iw, ih = CROPS[crop]
        inp = inputs_dir / f"{photo['name']}-{iw}x{ih}.png"
        im = crop_scale(src, (iw, ih), photo["focus"].get(crop, (0.5, 0.5)))  # always made: a changed focus changes the input
        if not inp.exists() or Image.open(inp).tobytes() != im.tobytes():
            im.save(inp)
        for s in sizes:
            what, fw, fh = SIZES[s]
            w, h = round(iw * fw), round(ih * fh)
            out.append(dict(photo=photo["name"], kinds=photo["kinds"], crop=crop, input=str(inp), input_size=[iw, ih],
                            size=[w, h], what=what, same_aspect=(w * ih == h * iw),
                            id=f"{photo['name']}-{iw}x{ih}-{w}x{h}"))
    if camera and "camera" in photo["kinds"]:
        with Image.open(src) as im:
            iw, ih = ImageOps.exif_transpose(im).size
        for (w, h), what in CAMERA_SIZES:
            out.append(dict(photo=photo["name"], kinds=photo["kinds"], crop="original", input=str(src), input_size=[iw, ih],
                            size=[w, h], what=what, same_aspect=(w * ih == h * iw),
                            id=f"{photo['name']}-{iw}x{ih}-{w}x{h}"))
    return out


def command(args, case, method, d):
    w, h = case["size"]
    m = "deep" if method.startswith("deep") else method
    cmd = shlex.split(args.wrap) if args.wrap else []
    cmd += [args.bin, "resize", case["input"], "-W", str(w), "-H", str(h), "--method", m, "-o", str(d / f"{method}.png")]
    for kv in args.set:
        cmd += ["--set", kv]
    if m == "deep":
        cmd += ["--operator", method.split("-", 1)[1]]
        if args.iterations:
            cmd += ["--iterations", str(args.iterations)]
        mask = "mask.png" if method == "deep-seam" else "mask-linear.png"
        cmd += ["--mask-out", str(d / mask), "--report-json", str(d / f"{method}.json")]
        cmd += args.deep_args
    return cmd


def run_case(args, case, env, bin_sha, progress):
    d = Path(args.out) / "cases" / case["id"]
    d.mkdir(parents=True, exist_ok=True)
    in_sha = sha256(case["input"])
    runs = {}
    for method in args.methods:
        cmd = command(args, case, method, d)
        stamp = dict(bin_sha256=bin_sha, input_sha256=in_sha, env=args.env,
                     argv=[a.replace(str(d), "<case>") for a in cmd[cmd.index("resize"):]])
        stamp_file = d / f"{method}.stamp.json"
        if not args.force and stamp_file.exists() and (d / f"{method}.png").exists():
            old = json.loads(stamp_file.read_text())
            if old.get("stamp") == stamp:
                runs[method] = old["run"]
                print(f"{progress} {case['id']} {method}: kept ({old['run']['wall_s']:.1f} s)", flush=True)
                continue
        for f in (d / f"{method}.png", d / f"{method}.json"):
            f.unlink(missing_ok=True)
        t0 = time.monotonic()
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.monotonic() - t0
        log = shlex.join(cmd) + "\n" + p.stdout
        note = None
        if p.returncode != 0 and "no deep report" in p.stdout and "--report-json" in cmd:
            # A deep run that did no reconstruction (e.g. a same-aspect request answered by the scale) may have no
            # report, and the CLI then refuses --report-json: run it again without, and say so.
            i = cmd.index("--report-json")
            retry = cmd[:i] + cmd[i + 2:]
            t0 = time.monotonic()
            p = subprocess.run(retry, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            wall = time.monotonic() - t0
            log += "\n# the CLI wrote no report; again without --report-json:\n" + shlex.join(retry) + "\n" + p.stdout
            note = "no deep report (the CLI refused --report-json)"
        (d / f"{method}.log").write_text(log)
        run = dict(method=method, wall_s=round(wall, 3), rc=p.returncode, bin_sha256=bin_sha,
                   log=p.stdout.strip().splitlines()[-6:], note=note,
                   when=datetime.datetime.now().isoformat(timespec="seconds"), load=os.getloadavg()[0])
        runs[method] = run
        if p.returncode == 0:
            stamp_file.write_text(json.dumps(dict(stamp=stamp, run=run), indent=1))
        else:
            stamp_file.unlink(missing_ok=True)
        tail = "" if p.returncode == 0 else f" FAILED rc={p.returncode}: {run['log'][-1] if run['log'] else ''}"
        print(f"{progress} {case['id']} {method}: {wall:.1f} s{tail}", flush=True)
    return d, runs


# ---------------------------------------------------------------- metrics
def report(d, method):
    f = d / f"{method}.json"
    try:
        return json.loads(f.read_text())
    except (OSError, ValueError):
        return None


def case_metrics(case, d, runs, bin_sha=None):
    out = {k: v for k, v in case.items()}
    files = {m: d / f"{m}.png" for m in METHODS}
    ok = {m: files[m].exists() and runs.get(m, {}).get("rc", 1) == 0 for m in METHODS}
    out["wall_s"] = {m: runs[m]["wall_s"] for m in runs}
    out["failed"] = [m for m in runs if runs[m]["rc"] != 0]
    out["bin_sha256"] = sorted({runs[m].get("bin_sha256", "?") for m in runs})
    out["notes"] = {m: runs[m]["note"] for m in runs if runs[m].get("note")}
    for m in ("deep-seam", "deep-linear"):
        r = report(d, m)
        if r:
            out[m] = dict(iterations=r.get("iterations"), requested=r.get("iterationsRequested"),
                          evaluations=r.get("evaluations"), stop=r.get("stop"),
                          L0=(r.get("initial") or {}).get("total"),
                          L=(r.get("finalClamped") or r.get("final") or {}).get("total"),
                          mask=r.get("maskFraction"), total_s=r.get("totalSeconds"))
    # deep's one-line summary of what it did (the CLI's second line), if any
    for m in ("deep-seam", "deep-linear"):
        log = runs.get(m, {}).get("log") or []
        extra = [line.strip() for line in log[1:] if line.startswith("  ") and not line.strip().startswith("L ")]
        if extra:
            out.setdefault(m, {})["summary"] = extra[0]
    met = {}
    if ok["seam"]:
        s_seam = metrics.sharpness(files["seam"])
    for m in METHODS:
        if not ok[m]:
            continue
        e = dict(sharpness=metrics.sharpness(files[m]), blockiness=metrics.blockiness(files[m]))
        if ok["seam"]:
            e["sharpness_vs_seam"] = e["sharpness"] / max(s_seam, 1e-9)
        if ok["scale"] and m != "scale":
            e["colour_shift_vs_scale"] = metrics.colour_shift(files[m], files["scale"])
            if case["same_aspect"]:
                e["ssim_vs_scale"] = metrics.ssim(files[m], files["scale"])
        met[m] = e
    out["metrics"] = met
    flags = []
    if bin_sha and any(b != bin_sha for b in out["bin_sha256"]):
        flags.append("other binary " + ",".join(b[:10] for b in out["bin_sha256"] if b != bin_sha))
    ds = met.get("deep-seam", {})
    if "ssim_vs_scale" in ds and ds["ssim_vs_scale"] < GOAL_SSIM:
        flags.append(f"ssim<{GOAL_SSIM}")
    if ds.get("sharpness_vs_seam", 1) < GOAL_SHARP:
        flags.append(f"sharp<{GOAL_SHARP}")
    if ds.get("blockiness", 0) > BLOCKY and ds["blockiness"] > met.get("scale", {}).get("blockiness", 0) + 0.05:
        flags.append("blocky")
    flags += [f"{m} failed" for m in out["failed"]]
    out["flags"] = flags
    return out


def fmt(v, spec=".2f", none="–"):
    return none if v is None else format(v, spec)


def markdown(rows, meta):
    L = [f"# Quality review: {len(rows)} cases", "",
         f"Binary `{meta['bin']}` (sha256 {meta['bin_sha256'][:12]}), {meta['iterations']}, "
         f"options `{meta['passed']}`; {meta['machine']}; {meta['started']} to {meta['ended']}.", "",
         "Columns: wall time of each process (s); deep's iterations run and final L (clamped); SSIM against "
         "`scale` (same-aspect cases only; goal ≥ 0.9); sharpness relative to pixel `seam` (goal ≥ 0.9); 8-px "
         "blockiness (≈1.0 for a photo, a grid > 1.1); chroma shift against `scale` (8-bit units). "
         "ds = deep/seam, dl = deep/linear. Definitions: scripts/review/metrics.py.", "",
         "| case | what | scale s | seam s | ds s | dl s | ds it / L | dl it / L | mask % | ssim ds / dl | "
         "sharp ds / dl / scale | block scale / seam / ds / dl | chroma seam / ds / dl | flags |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m, w = r["metrics"], r["wall_s"]
        g = lambda k, f: m.get(k, {}).get(f)  # noqa: E731
        ds, dl = r.get("deep-seam", {}), r.get("deep-linear", {})
        mask = ds.get("mask")
        L.append("| " + " | ".join([
            r["id"], r["what"],
            fmt(w.get("scale")), fmt(w.get("seam")), fmt(w.get("deep-seam"), ".1f"), fmt(w.get("deep-linear"), ".1f"),
            f"{fmt(ds.get('iterations'), 'd')} / {fmt(ds.get('L'), '.4f')}",
            f"{fmt(dl.get('iterations'), 'd')} / {fmt(dl.get('L'), '.4f')}",
            fmt(None if mask is None else 100 * mask, ".1f"),
            f"{fmt(g('deep-seam', 'ssim_vs_scale'), '.3f')} / {fmt(g('deep-linear', 'ssim_vs_scale'), '.3f')}"
            if r["same_aspect"] else "–",
            " / ".join(fmt(g(k, "sharpness_vs_seam")) for k in ("deep-seam", "deep-linear", "scale")),
            " / ".join(fmt(g(k, "blockiness")) for k in ("scale", "seam", "deep-seam", "deep-linear")),
            " / ".join(fmt(g(k, "colour_shift_vs_scale"), ".1f") for k in ("seam", "deep-seam", "deep-linear")),
            ", ".join(r["flags"]) or "",
        ]) + " |")
    ds_t = [r["wall_s"]["deep-seam"] for r in rows if "deep-seam" in r["wall_s"]]
    dl_t = [r["wall_s"]["deep-linear"] for r in rows if "deep-linear" in r["wall_s"]]
    sharp = [r["metrics"]["deep-seam"]["sharpness_vs_seam"] for r in rows
             if "sharpness_vs_seam" in r["metrics"].get("deep-seam", {})]
    L += ["", "Summary: " + "; ".join(x for x in [
        f"deep/seam {len(ds_t)} runs, {sum(ds_t):.0f} s in all, median {sorted(ds_t)[len(ds_t) // 2]:.1f} s" if ds_t else "",
        f"deep/linear {len(dl_t)} runs, {sum(dl_t):.0f} s" if dl_t else "",
        f"sharpness ds/seam ≥ {GOAL_SHARP} in {sum(s >= GOAL_SHARP for s in sharp)} of {len(sharp)}" if sharp else "",
        f"{sum(bool(r['flags']) for r in rows)} cases flagged",
    ] if x) + "."]
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- sheets
def font(size):
    for f in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if os.path.exists(f):
            return ImageFont.truetype(f, size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def wrap(draw, text, fnt, width):
    """Break at ' · ' (and at spaces inside a part too long for one line) so that each line fits width."""
    lines, cur = [], ""
    for part in text.split(" · "):
        cand = part if not cur else cur + " · " + part
        if draw.textlength(cand, font=fnt) <= width:
            cur = cand
            continue
        if cur:
            lines.append(cur)
        cur = ""
        for word in part.split(" "):  # a part too long on its own: at spaces
            cand = word if not cur else cur + " " + word
            if cur and draw.textlength(cand, font=fnt) > width:
                lines.append(cur)
                cur = word
            else:
                cur = cand
    return lines + [cur]


def shown(im, box=(640, 480), limit=1024):
    if im.width <= limit:
        return im, ""
    t = im.copy()
    t.thumbnail(box, Image.LANCZOS)
    return t, f" · shown at {t.width}×{t.height}"


def compose(grid, title, pad=8, size=15):
    """grid: rows of (label, PIL image or None, placeholder size[, placeholder text]). Returns the sheet."""
    fnt, tfnt = font(size), font(size + 3)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    ncol = max(len(r) for r in grid)
    colw = [max(max((t[1].width if t[1] else t[2][0]) for r in grid if len(r) > c for t in [r[c]]), 240)
            for c in range(ncol)]
    labels = [[wrap(probe, t[0], fnt, colw[c]) for c, t in enumerate(r)] for r in grid]
    line_h = size + 5
    rowh = [max((t[1].height if t[1] else t[2][1]) for t in r) for r in grid]
    lab_h = [max(len(l) for l in ls) * line_h + 4 for ls in labels]
    W = sum(colw) + pad * (ncol + 1)
    title_lines = wrap(probe, title, tfnt, W - 2 * pad)
    top = pad + len(title_lines) * (size + 8) + 4
    H = top + sum(rowh) + sum(lab_h) + pad * (len(grid) + 1)
    sheet = Image.new("RGB", (W, H), "white")
    dr = ImageDraw.Draw(sheet)
    for i, l in enumerate(title_lines):
        dr.text((pad, pad + i * (size + 8)), l, fill="black", font=tfnt)
    y = top
    for ri, r in enumerate(grid):
        x = pad
        for c, t in enumerate(r):
            label, im, ph = t[:3]
            for k, l in enumerate(labels[ri][c]):
                dr.text((x, y + k * line_h), l, fill=(20, 20, 20), font=fnt)
            iy = y + lab_h[ri]
            if im is not None:
                sheet.paste(im, (x, iy))
            else:
                dr.rectangle([x, iy, x + ph[0] - 1, iy + ph[1] - 1], fill=(200, 200, 200), outline=(120, 0, 0))
                dr.text((x + 8, iy + 8), "missing / failed" if len(t) < 4 else t[3], fill=(120, 0, 0), font=fnt)
            x += colw[c] + pad
        y += lab_h[ri] + rowh[ri] + pad
    return sheet


def load(path):
    try:
        return Image.open(path).convert("RGB")
    except (OSError, ValueError):
        return None


def tile_label(r, m):
    w, h = r["size"]
    t = r["wall_s"].get(m)
    parts = [f"{LABEL[m]} {w}×{h}"]
    if t is not None:
        parts.append(f"{t:.1f} s" if t >= 1 else f"{t * 1000:.0f} ms")
    rep = r.get(m) if m.startswith("deep") else None
    if rep and rep.get("iterations") is not None:
        parts.append(f"{rep['iterations']} it" + (f" ({rep['stop']})" if rep.get("stop") else ""))
        if rep.get("L0") is not None and rep.get("L") is not None:
            parts.append(f"L {rep['L0']:.3f}→{rep['L']:.4f}")
    e = r["metrics"].get(m, {})
    if m != "seam" and "sharpness_vs_seam" in e:
        parts.append(f"sharp {e['sharpness_vs_seam']:.2f}× seam")
    if "blockiness" in e:
        parts.append(f"block {e['blockiness']:.2f}")
    if "ssim_vs_scale" in e:
        parts.append(f"ssim {e['ssim_vs_scale']:.3f}")
    if rep and rep.get("summary"):
        parts.append(rep["summary"])
    if r.get("notes", {}).get(m):
        parts.append(r["notes"][m])
    if m in r["failed"]:
        parts.append("FAILED")
    return " · ".join(parts)


def sheet_for(r, d, meta, order="review"):
    w, h = r["size"]
    inp = load(r["input"])
    iw, ih = r["input_size"]
    inp_s, inp_note = shown(inp) if inp else (None, "")
    mask = load(d / "mask.png")
    mask_s, mask_note = shown(mask) if mask else (None, "")
    ds = r.get("deep-seam", {})
    mask_label = "mask (deep/seam run)" + (f" {mask.width}×{mask.height}" if mask else "") + \
        (f" · {100 * ds['mask']:.1f} % protected" if ds.get("mask") is not None else "") + mask_note
    t = {m: (tile_label(r, m), load(d / f"{m}.png"), (w, h)) for m in METHODS}
    no_mask = "no mask written" if "deep-seam" in r["wall_s"] and "deep-seam" not in r["failed"] else "missing / failed"
    grid = [[(f"input {iw}×{ih}{inp_note}", inp_s, (iw, ih)), t["scale"],
             (mask_label, mask_s, (w, h), no_mask)],
            [t["seam"], t["deep-seam"], t["deep-linear"]]]
    title = (f"{r['photo']} ({', '.join(r['kinds'])}) · {iw}×{ih} → {w}×{h}, {r['what']} · "
             f"{Path(meta['bin']).name} {meta['bin_sha256'][:10]} · {meta['iterations']}"
             + (f" · {short(meta['passed'])}" if meta["passed"] else ""))
    return compose(grid, title)


def short(text):
    """Paths in an option list, shortened to their file names (for titles)."""
    return " ".join(("=".join(p.rsplit("/", 1)[-1] if "/" in p else p for p in w.split("=", 1))) for w in text.split(" "))


# ---------------------------------------------------------------- main
def weights_env(args, env):
    if any(kv.startswith("weights=") for kv in args.set) or env.get("DEEPRESIZE_WEIGHTS"):
        return
    cfg = args.config_weights
    if cfg and (ROOT / cfg).exists():
        return
    for p in (ROOT / "weights/vgg16-imagenet.safetensors", ROOT / ".cache/weights/vgg16-imagenet.safetensors",
              Path.home() / ".cache/deepresize-weights/vgg16-imagenet.safetensors"):
        if p.exists():
            env["DEEPRESIZE_WEIGHTS"] = str(p)
            return
    raise SystemExit("no VGG-16 weights: run scripts/fetch-weights (or pass --set weights=FILE)")


def main():
    ap = argparse.ArgumentParser(
        prog="scripts/quality-review", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="One sheet per photo and size: input, scale, seam, deep/seam, deep/linear, mask.",
        epilog="Arguments after -- go to every deep run, e.g. `-- --protect false`.\n"
               "Examples:\n  scripts/quality-review\n  scripts/quality-review --iterations 2 Bridge Kleiber\n"
               "  scripts/quality-review --bin ../main/.build/release/deepresize --set engine_threads=2 "
               "--out bench-out/review-v2")
    ap.add_argument("photos", nargs="*", help="names from the set (default: all of it)")
    ap.add_argument("--bin", default=".build/release/deepresize", help="the deepresize CLI (default %(default)s)")
    ap.add_argument("--out", default="bench-out/review", help="output folder (default %(default)s)")
    ap.add_argument("--photo-set", default=str(ROOT / "scripts/review-photos.txt"), help="the review set file")
    ap.add_argument("--photos-dir", default=os.environ.get("PHOTOS_DIR", str(ROOT / ".cache/photos")))
    ap.add_argument("--iterations", type=int, help="deep: --iterations N (default: the CLI's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="--set for every run (repeatable)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment for every run")
    ap.add_argument("--wrap", default="", help="command prefix for every run, e.g. 'nice -n 15' or 'taskset -c 0,1'")
    ap.add_argument("--crops", default="16:9,4:3", help="which crops (default %(default)s)")
    ap.add_argument("--sizes", default="w60,h60,w140", help="which sizes (default %(default)s; also w75h133, narrowed and heightened)")
    ap.add_argument("--methods", default=",".join(METHODS), help="which runs (default %(default)s)")
    ap.add_argument("--no-camera", action="store_true", help="skip the camera originals' as-is cases")
    ap.add_argument("--only-camera", action="store_true", help="only the camera originals' as-is cases")
    ap.add_argument("--force", action="store_true", help="rerun runs whose stamp matches")
    ap.add_argument("--sheets-only", action="store_true", help="no runs: sheets and metrics from what is there")
    ap.add_argument("--list", action="store_true", help="print the cases and exit")
    argv = sys.argv[1:]
    deep_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, deep_args = argv[:i], argv[i + 1:]
    args = ap.parse_args(argv)
    args.deep_args = deep_args
    args.methods = [m for m in args.methods.split(",") if m]
    for m in args.methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method {m}: one of {', '.join(METHODS)}")
    crops = [c for c in args.crops.split(",") if c]
    sizes = [s for s in args.sizes.split(",") if s]
    for c in crops:
        if c not in CROPS:
            raise SystemExit(f"unknown crop {c}: one of {', '.join(CROPS)}")
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"unknown size {s}: one of {', '.join(SIZES)}")
    if args.only_camera:
        crops = []

    bin_path = Path(args.bin)
    if not bin_path.is_absolute():
        bin_path = (Path.cwd() / bin_path)
    args.bin = str(bin_path.resolve())
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    args.out = str(out)
    try:
        cfg = json.loads((ROOT / "config/deepresize.json").read_text())
        args.config_weights = cfg.get("weights")
    except (OSError, ValueError):
        args.config_weights = None

    photos = read_set(args.photo_set)
    if args.photos:
        by = {p["name"].lower(): p for p in photos}
        missing = [n for n in args.photos if n.lower() not in by]
        if missing:
            raise SystemExit(f"not in {args.photo_set}: {', '.join(missing)} (names: {', '.join(p['name'] for p in photos)})")
        photos = [by[n.lower()] for n in args.photos]
    inputs = out / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    cases = []
    for p in photos:
        cases += cases_for(p, photo_file(args.photos_dir, p["name"]), inputs, crops, sizes, not args.no_camera)
    if args.list:
        for c in cases:
            print(f"{c['id']}  ({c['what']}, input {c['input']})")
        return 0

    if not args.sheets_only and not bin_path.exists():
        raise SystemExit(f"no CLI at {args.bin}: swift build -c release --product deepresize, or --bin PATH")
    env = dict(os.environ)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    weights_env(args, env)
    bin_sha = sha256(args.bin) if bin_path.exists() else "?" * 64
    passed = " ".join([*(f"--set {kv}" for kv in args.set), *(f"env {kv}" for kv in args.env),
                       *([f"wrap: {args.wrap}"] if args.wrap else []), *deep_args])
    meta = dict(bin=args.bin, bin_sha256=bin_sha,
                iterations=f"--iterations {args.iterations}" if args.iterations else "default iterations",
                passed=passed, started=datetime.datetime.now().isoformat(timespec="seconds"),
                machine=f"{os.cpu_count()} cores {platform.processor() or platform.machine()}, "
                        f"load {os.getloadavg()[0]:.1f} at start",
                argv=sys.argv[1:])
    (out / "sheets").mkdir(exist_ok=True)
    rows = []
    for i, c in enumerate(cases, 1):
        d = out / "cases" / c["id"]
        if args.sheets_only:
            runs = {}
            for m in METHODS:
                f = d / f"{m}.stamp.json"
                if f.exists():
                    runs[m] = json.loads(f.read_text())["run"]
            if not runs:
                continue
        else:
            d, runs = run_case(args, c, env, bin_sha, f"[{i}/{len(cases)}]")
        r = case_metrics(c, d, runs, bin_sha)
        (d / "case.json").write_text(json.dumps(r, indent=1))
        sheet_for(r, d, meta).save(out / "sheets" / f"{c['id']}.png", optimize=False, compress_level=6)
        rows.append(r)
    meta["ended"] = datetime.datetime.now().isoformat(timespec="seconds")
    # metrics over every case present under out/cases, so that partial runs add up
    allrows = {r["id"]: r for r in rows}
    for f in sorted((out / "cases").glob("*/case.json")):
        r = json.loads(f.read_text())
        if r["id"] not in allrows:
            other = [b[:10] for b in r.get("bin_sha256", []) if b != bin_sha]
            r["flags"] = [x for x in r["flags"] if not x.startswith("other binary")]
            if other:
                r["flags"].append("other binary " + ",".join(other))
            allrows[r["id"]] = r
    table = sorted(allrows.values(), key=lambda r: r["id"])
    (out / "metrics.json").write_text(json.dumps(dict(meta=meta, cases=table), indent=1))
    (out / "metrics.md").write_text(markdown(table, meta))
    (out / "run.json").write_text(json.dumps(meta, indent=1))
    print(f"{len(rows)} cases: sheets in {out / 'sheets'}, metrics in {out / 'metrics.md'}")
    return 1 if any(r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
