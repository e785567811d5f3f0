# The split-half measure of a reader on dev, from `train-reader --dump FILE`: for 50 random splits
# of the dev questions that have a candidate, the lowest threshold keeping PRECISION (by gold
# containment, 20 answers at least) on one half, and the questions answered at it on the other;
# both halves in turn. Prints the mean answered per half and the mean precision reached.
# usage: python3 scripts/split_half.py DUMP.jsonl [PRECISION, default 0.97]
import json, random, sys

rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if r["p"] is not None]
precision = float(sys.argv[2]) if len(sys.argv) > 2 else 0.97


def threshold(half):
    best, right = None, 0
    for i, r in enumerate(sorted(half, key=lambda r: -r["p"]), 1):
        right += r["right"]
        if i >= 20 and right / i >= precision:
            best = r["p"]
    return best


answered, reached = [], []
for seed in range(50):
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    h = len(shuffled) // 2
    for chosen_on, counted_on in ((shuffled[:h], shuffled[h:]), (shuffled[h:], shuffled[:h])):
        t = threshold(chosen_on)
        if t is None:
            answered.append(0)
            continue
        kept = [r for r in counted_on if r["p"] >= t]
        answered.append(len(kept))
        reached.append(sum(r["right"] for r in kept) / max(1, len(kept)))
print(
    f"{sys.argv[1]}: {len(rows)} dev questions with a candidate; answered per half "
    f"{sum(answered) / len(answered):.1f} at a threshold for {precision:.0%} on the other half "
    f"(precision reached {sum(reached) / max(1, len(reached)):.3f})"
)
