#!/usr/bin/env python3
"""docs/gallery/ from the quality review's output (scripts/quality-review). Run it through scripts/make-gallery.

For each case of the review (metrics.json under --from), one JPEG row under --to: a column with the input
and the mask (each at half size), then scale | seam | deep/seam | deep/linear at their output size (never
scaled), labelled with the method, the wall time and deep's iterations. The review's metrics table is copied
beside them (review-metrics.md). A template of docs/gallery.md, one line per case to fill in, is printed (or
written with --template FILE): the per-case sentences are a person's judgement, not this script's.
Default cases: the 16:9 crops (640x360) of every photo at the three sizes, and the camera original's cases;
--crop all adds the 4:3 ones. The images' total size is printed; files of --to that this run did not write
are listed as stale (not deleted).
"""
import argparse
import json
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_review import METHODS, ROOT, compose, load, short, tile_label  # noqa: E402

VERDICT = "better / equal / worse"


def half(im):
    if im is None:
        return None
    t = im.copy()
    t.thumbnail((max(1, min(im.width, 640) // 2), max(1, min(im.height, 480) // 2)), Image.LANCZOS)
    return t


def row_for(r, d):
    w, h = r["size"]
    inp, mask = half(load(r["input"])), half(load(d / "mask.png"))
    iw, ih = r["input_size"]
    # input over mask in one column
    col_h = (inp.height if inp else 0) + (mask.height if mask else 0) + 4
    col_w = max(inp.width if inp else 0, mask.width if mask else 0, 1)
    stack = Image.new("RGB", (col_w, col_h), "white")
    if inp:
        stack.paste(inp, (0, 0))
    if mask:
        stack.paste(mask, (0, (inp.height if inp else 0) + 4))
    ds = r.get("deep-seam", {})
    label = f"input {iw}×{ih} · mask" + (f" {100 * ds['mask']:.1f} %" if ds.get("mask") is not None else "") + \
        " (both at half size or less)"
    tiles = [(label, stack, (col_w, col_h))]
    for m in METHODS:
        lab = tile_label(r, m).split(" · sharp")[0]  # method, size, time, iterations, L
        tiles.append((lab, load(d / f"{m}.png"), (w, h)))
    title = f"{r['photo']} · {iw}×{ih} → {w}×{h}, {r['what']}"
    return compose([tiles], title, pad=6, size=13)


def main():
    ap = argparse.ArgumentParser(prog="scripts/make-gallery", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", nargs="*", help="only these photos (default: every photo of the review)")
    ap.add_argument("--from", dest="src", default=str(ROOT / "bench-out/review"), help="the review's output")
    ap.add_argument("--to", default=str(ROOT / "docs/gallery"), help="where the images go (default docs/gallery)")
    ap.add_argument("--crop", default="16:9", choices=["16:9", "4:3", "all"], help="which crops (default 16:9)")
    ap.add_argument("--quality", type=int, default=80, help="JPEG quality (default 80: about 0.5 MB a photo for its three rows)")
    ap.add_argument("--template", help="write the gallery.md template here instead of printing it")
    args = ap.parse_args()

    src, to = Path(args.src), Path(args.to)
    try:
        review = json.loads((src / "metrics.json").read_text())
    except OSError:
        raise SystemExit(f"no {src / 'metrics.json'}: run scripts/quality-review first")
    crops = {"16:9", "4:3"} if args.crop == "all" else {args.crop}
    cases = [r for r in review["cases"] if (r.get("crop") == "original" or r.get("crop") in crops)
             and (not args.photos or r["photo"] in args.photos)]
    if not cases:
        raise SystemExit("no cases to show")
    to.mkdir(parents=True, exist_ok=True)
    written, total = [], 0
    for r in cases:
        f = to / f"{r['id']}.jpg"
        row_for(r, src / "cases" / r["id"]).save(f, quality=args.quality, optimize=True, progressive=True)
        written.append(f)
        total += f.stat().st_size
    table = src / "metrics.md"
    if table.exists():
        (to / "review-metrics.md").write_text(table.read_text())
        written.append(to / "review-metrics.md")
    stale = sorted(p.name for p in to.iterdir() if p.is_file() and p not in written)
    print(f"{len(cases)} images in {to}, {total / 1e6:.1f} MB in all (JPEG q{args.quality})", file=sys.stderr)
    if stale:
        print(f"not written by this run (stale? git rm them if so): {' '.join(stale)}", file=sys.stderr)

    meta = review["meta"]
    rel = Path("gallery") if to.resolve() == (ROOT / "docs/gallery").resolve() else to
    lines = ["# Gallery: the methods on real photos", "",
             f"Made by `scripts/quality-review` then `scripts/make-gallery` (binary sha256 {meta['bin_sha256'][:12]}, "
             f"{meta['iterations']}{', ' + short(meta['passed']) if meta['passed'] else ''}). Photos from Debian's wallpaper "
             "packages (`scripts/fetch-photos`, licences in its LICENSES.txt), cropped to 16:9 and scaled to 640×360 "
             "(Lanczos), and the 4224×3168 camera JPEG as is. Each row: input and the mask `deep` protected (half size), "
             "`scale`, `seam` (pixel seam carving), `deep` with `operator=seam` (the default) and with `operator=linear`. "
             f"Metrics of every case: [gallery/review-metrics.md]({rel}/review-metrics.md).", "",
             "Per case: deep/seam **better / equal / worse** than pixel `seam`, and what is seen.", ""]
    photo = None
    for r in cases:
        if r["photo"] != photo:
            photo = r["photo"]
            lines += [f"## {photo}", ""]
        m = r["metrics"]
        ds = m.get("deep-seam", {})
        facts = [f"{r['wall_s'].get('deep-seam', float('nan')):.0f} s"]
        if "sharpness_vs_seam" in ds:
            facts.append(f"sharpness {ds['sharpness_vs_seam']:.2f}× seam")
        if "ssim_vs_scale" in ds:
            facts.append(f"SSIM {ds['ssim_vs_scale']:.3f} vs scale")
        if "blockiness" in ds:
            facts.append(f"blockiness {ds['blockiness']:.2f}")
        w, h = r["size"]
        iw, ih = r["input_size"]
        lines += [f"![{r['id']}]({rel}/{r['id']}.jpg)", "",
                  f"**{iw}×{ih} → {w}×{h}** ({r['what']}; deep/seam {', '.join(facts)}): deep/seam "
                  f"**{VERDICT}** than pixel seam: TODO what is seen.", ""]
    lines += ["## What the gallery says", "", "TODO: where deep/seam is better, where it is still worse, and why.", ""]
    text = "\n".join(lines)
    if args.template:
        Path(args.template).write_text(text)
        print(f"template: {args.template}", file=sys.stderr)
    else:
        print(text)


if __name__ == "__main__":
    main()
