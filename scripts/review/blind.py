"""Blind A/B sheets of two methods from quality-review cases, and the unblinding of a judge's verdicts.

  make OUT CASES_DIR... [--a seam] [--b deep-seam] [--seed N]
      One folder OUT/NN per case that changes the aspect: sheet.png (the input on top, A and B below at
      1:1), input.png, A.png, B.png. Which method is A is drawn per case (from a random seed unless
      --seed is given); the key goes to OUT.key.json, beside OUT and not in it, so a judge told to stay
      inside OUT cannot see it. OUT must be new or empty.
  unblind OUT JUDGMENTS.json... [--markdown FILE]
      JUDGMENTS: {"NN": {"verdict": "A"|"B"|"equal", "confidence": …, "why": …}}. Prints the counts per
      method and the cases with a winner, named; --markdown writes them as a table.
What the judges are told: scripts/review/judge-prompt.md.
"""
import argparse
import json
import os
import random
import sys
from collections import Counter

from PIL import Image, ImageDraw


def make(args):
    if os.path.isdir(args.out) and os.listdir(args.out):
        sys.exit("%s is not empty: its sheets would mix with another key's" % args.out)
    # A fixed seed would let anyone rebuild the key; --seed is for reproducing a study.
    rng = random.Random(args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 62))
    cases = []
    for d in args.cases_dirs:
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            try:
                case = json.load(open(os.path.join(path, "case.json")))
            except (OSError, ValueError):
                continue
            if case.get("same_aspect"):
                continue
            if all(os.path.exists(os.path.join(path, m + ".png")) for m in (args.a, args.b)):
                cases.append((path, case))
    rng.shuffle(cases)
    key = {}
    for i, (path, case) in enumerate(cases):
        n = "%02d" % (i + 1)
        inp = Image.open(case["input"]).convert("RGB")
        if inp.width > 1000:  # a camera original: shown 640 wide
            inp = inp.resize((640, round(inp.height * 640 / inp.width)), Image.LANCZOS)
        first, second = (args.a, args.b) if rng.random() < 0.5 else (args.b, args.a)
        a = Image.open(os.path.join(path, first + ".png")).convert("RGB")
        b = Image.open(os.path.join(path, second + ".png")).convert("RGB")
        key[n] = {"case": case["id"], "dir": path, "A": first, "B": second}
        width = max(inp.width, a.width + b.width + 20)
        sheet = Image.new("RGB", (width, 20 + inp.height + 40 + max(a.height, b.height)), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        draw.text((4, 4), "input (%dx%d), target %dx%d" % (*case["input_size"], *case["size"]), fill=(0, 0, 0))
        sheet.paste(inp, (0, 20))
        y = 20 + inp.height + 20
        draw.text((4, y - 16), "A", fill=(0, 0, 0))
        draw.text((a.width + 24, y - 16), "B", fill=(0, 0, 0))
        sheet.paste(a, (0, y))
        sheet.paste(b, (a.width + 20, y))
        folder = os.path.join(args.out, n)
        os.makedirs(folder, exist_ok=True)
        sheet.save(os.path.join(folder, "sheet.png"))
        inp.save(os.path.join(folder, "input.png"))
        a.save(os.path.join(folder, "A.png"))
        b.save(os.path.join(folder, "B.png"))
    json.dump(key, open(args.out.rstrip("/") + ".key.json", "w"), indent=1)
    print("%d cases in %s (key: %s.key.json)" % (len(cases), args.out, args.out.rstrip("/")))


def unblind(args):
    key = json.load(open(args.out.rstrip("/") + ".key.json"))
    verdicts = {}
    for f in args.judgments:
        for n, v in json.load(open(f)).items():
            if n in verdicts:
                sys.exit("case %s is judged twice (again in %s)" % (n, f))
            if n not in key:
                sys.exit("case %s of %s is not in the key" % (n, f))
            if v.get("verdict") not in ("A", "B", "equal"):
                sys.exit("case %s of %s: verdict %r is not A, B or equal" % (n, f, v.get("verdict")))
            verdicts[n] = v
    counts, rows = Counter(), []
    for n in sorted(verdicts):
        v, k = verdicts[n], key[n]
        winner = "equal" if v["verdict"] == "equal" else k[v["verdict"]]
        counts[winner] += 1
        counts[(winner, v.get("confidence", "?"))] += 1
        if winner != "equal":
            rows.append((winner, k["case"], v.get("confidence", "?"), v.get("why", "")))
    methods = sorted({k["A"] for k in key.values()} | {k["B"] for k in key.values()})
    print("%d verdicts:" % len(verdicts), ", ".join(
        "%s better %d (high %d, medium %d, low %d)" % (m, counts[m], counts[(m, "high")], counts[(m, "medium")], counts[(m, "low")])
        for m in methods), "| equal %d" % counts["equal"])
    for winner, case, confidence, why in sorted(rows):
        print("%-10s %-32s %-6s %s" % (winner, case, confidence, why))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| better | case | confidence | what the judge saw (A/B as shown to the judge) |\n|---|---|---|---|\n")
            for winner, case, confidence, why in sorted(rows):
                f.write("| %s | %s | %s | %s |\n" % (winner, case, confidence, why.replace("|", "/")))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("cases_dirs", nargs="+")
    m.add_argument("--a", default="seam")
    m.add_argument("--b", default="deep-seam")
    m.add_argument("--seed", type=int)
    u = sub.add_parser("unblind")
    u.add_argument("out")
    u.add_argument("judgments", nargs="+")
    u.add_argument("--markdown")
    args = parser.parse_args()
    make(args) if args.command == "make" else unblind(args)


if __name__ == "__main__":
    sys.exit(main())
