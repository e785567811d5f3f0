#!/usr/bin/env python3
"""Would OpenTriviaQA's 49,716 question/answer pairs earn a place in the default corpus as known
answers? For each lookup with gold answers, the OpenTriviaQA question sharing most content words
(Jaccard over words, stop words aside) answers it if the overlap reaches a threshold; prints how
many would be answered and how many of those answers hold a gold answer.

    python3 scripts/experiments/opentriviaqa_overlap.py

Measured (2026-11-27): of the shared dev set's 1,726 NQ/TriviaQA lookups, 3 have a near-identical
question (overlap >= 0.9) and 15 an overlap >= 0.6 (7 right): it does not earn its place.
"""
import os, re, json, unicodedata, collections
ROOT=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
D=os.path.join(ROOT,'..','shared','data','corpus-sources','opentriviaqa')+'/'
pairs=[]
for f in os.listdir(D):
    if f.isupper() or f.endswith('.md'): continue
    q=None
    for line in open(D+f, encoding='utf-8', errors='replace'):
        line=line.rstrip('\n')
        if line.startswith('#Q '): q=line[3:].strip()
        elif line.startswith('^ ') and q: pairs.append((q, line[2:].strip(), f)); q=None
        elif q and not line.startswith(('A ','B ','C ','D ','^')) and line.strip(): q += ' '+line.strip()
print(len(pairs))
STOP=set("a an the of in on at to for from by with and or is are was were be been do does did what whats who whom whose which when where why how s it its this that these those there as about me tell please can you i my much many called named name".split())
def norm(s): return ''.join(c for c in unicodedata.normalize('NFKD', s.lower()) if not unicodedata.combining(c))
def terms(s): return frozenset(w for w in re.findall(r"[a-z0-9]+", norm(s)) if w not in STOP)
idx=collections.defaultdict(list)
P=[(terms(q),q,a,f) for q,a,f in pairs]
for i,(t,q,a,f) in enumerate(P):
    for w in t: idx[w].append(i)
def best(query):
    t=terms(query); c=collections.Counter()
    for w in t:
        if len(idx[w])<2000:
            for i in idx[w]: c[i]+=1
    out=None
    for i,n in c.most_common(20):
        tp=P[i][0]; j=len(t&tp)/len(t|tp)
        if out is None or j>out[0]: out=(j,i)
    return out
def ok(ans, golds):
    a=norm(ans)
    for g in golds:
        if g.startswith('re:'): 
            try:
                if re.search(g[3:], ans, re.I): return True
            except: pass
            continue
        g=norm(g)
        if g and (g in a or a in g) and len(a)>0: return True
    return False
SETS=[os.path.join(ROOT,'..','shared','data','queries','dev.jsonl')]+[os.path.join(ROOT,'training',n) for n in ('chatbot_lookups.jsonl','chatbot_lookups_heldout.jsonl','answers.jsonl')]
for fn in SETS:
    rows=[r for r in map(json.loads, open(fn)) if r.get('answers')]
    for thr in [0.6,0.75,0.9,1.0]:
        n=r=0; ex=[]
        for row in rows:
            b=best(row['query'])
            if b and b[0]>=thr:
                n+=1; good=ok(P[b[1]][2], row['answers']); r+=good
                if not good and len(ex)<4: ex.append((row['query'], P[b[1]][1], P[b[1]][2], row['answers'][:2]))
        print(os.path.basename(fn), len(rows), 'thr',thr,'answered',n,'right',r)
        if thr==0.75:
            for e in ex: print('   ', e)
