#!/usr/bin/env python3
"""Does `ecoroute replay --json` say what `serve` does? Runs every question of a JSON Lines file
(`query` per line) through a release `serve` (config/ecoroute.toml, the LLM a mock on loopback) and
through `replay --json` with the same config, and counts the lines whose route, reason or answer
differ. Every question is sent twice, so the second pass meets the response cache: a hit is
`x-ecoroute-route: cache` in `serve` and `"route": "cache"` in `replay`; a model tier shows as
`x-ecoroute-model` and replay's `tier`.

    cargo build --release --bin ecoroute --example mock_upstream
    python3 scripts/replay_vs_serve.py ../shared/data/queries/dev.jsonl
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
from stack import ROOT, free_port, start_ecoroute, start_mock, stop_all  # noqa: E402


def main():
    path = sys.argv[1]
    queries = [json.loads(l)["query"] for l in open(path) if l.strip()]
    queries = queries + queries
    tmp = tempfile.mkdtemp(prefix="ecoroute-replay-")
    mock_port, port = free_port(), free_port()
    mock = start_mock(mock_port)
    eco = start_ecoroute(tmp, port, mock_port)
    served = []
    try:
        for q in queries:
            body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": q}]}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                route, reason = r.headers["x-ecoroute-route"], r.headers["x-ecoroute-reason"]
                tier = r.headers.get("x-ecoroute-model")
                content = json.loads(r.read())["choices"][0]["message"]["content"] if route in ("search", "cache") else None
            served.append((route, reason, content, tier))
    finally:
        stop_all([eco, mock])
    inputs = os.path.join(tmp, "in.jsonl")
    with open(inputs, "w") as f:
        for q in queries:
            f.write(json.dumps({"query": q}) + "\n")
    out = subprocess.run([os.path.join(ROOT, "target/release/ecoroute"), "replay", "--json", "--config",
                          os.path.join(tmp, "bench.toml"), "--input", inputs],
                         cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, "RUST_LOG": "error"})
    replayed = [json.loads(l) for l in out.stdout.splitlines()]
    differ = 0
    for q, (route, reason, content, tier), line in zip(queries, served, replayed):
        # Header values carry non-ASCII percent-encoded; a cache hit's age depends on when it is asked.
        reason = re.sub(r"stored \d+ s ago", "stored N s ago", urllib.parse.unquote(reason))
        line_reason = re.sub(r"stored \d+ s ago", "stored N s ago", line["reason"])[:512]
        # serve names the model only when a tier routed the request (shadow mode forwards unchanged).
        t = line.get("tier") or {}
        line_tier = t.get("model") if str(t.get("mode", "")).lower() == "route" else None
        if (route, reason, content, tier) != (line["route"], line_reason, line["answer"], line_tier):
            differ += 1
            print(f"DIFFERS: {q!r}\n  serve:  {route} | {reason} | {content} | {tier}\n  replay: {line['route']} | {line_reason} | {line['answer']} | {line_tier}")
    answered = sum(1 for s in served if s[0] == "search")
    cached = sum(1 for s in served if s[0] == "cache")
    print(f"{len(queries)} requests (each question twice): {answered} answered from search and {cached} from the"
          f" cache by serve; {differ} differ between serve and replay")
    sys.exit(1 if differ or len(replayed) != len(queries) else 0)


if __name__ == "__main__":
    main()
