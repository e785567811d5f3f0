# Drops the questions of a new training file that repeat a dev or test question: the same
# content words (Jaccard >= 0.5) and a gold answer in common, or nearly the same words (>= 0.8).
# usage: python3 scripts/dedupe_questions.py NEW.jsonl HELD.jsonl... > KEPT.jsonl
import json,re,sys,glob
STOP=set("a an the of in on at to is was are were what whats who whos which where when how does do did for by and or s hi hey please can you tell me quick question thanks".split())
def toks(q): return {w for w in re.findall(r"[a-z0-9]+",q.lower()) if w not in STOP}
def golds(r): return {a.lower() for a in r.get('answers',[])}
held=[]
for f in sys.argv[2:]:
    for l in open(f):
        r=json.loads(l); held.append((toks(r['query']),golds(r)))
out=[];drop=0
for l in open(sys.argv[1]):
    r=json.loads(l); t=toks(r['query']); g=golds(r)
    bad=False
    for ht,hg in held:
        if not t or not ht: continue
        j=len(t&ht)/len(t|ht)
        if j>=0.5 and (g&hg or j>=0.8): bad=True;break
    if bad: drop+=1
    else: out.append(l)
sys.stdout.write(''.join(out)); print(f"{sys.argv[1]}: kept {len(out)} dropped {drop}",file=sys.stderr)
