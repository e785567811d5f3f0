"""The benchmark stack shared by load.py and soak.py: the mock upstream, ecoroute with the default
config pointed at it, and /proc readings of a process's CPU time and memory."""

import json
import os
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")

LLM_BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write a haiku about load balancers"}]})
SEARCH_BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is the capital of Peru?"}]})
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "Write a haiku about load balancers"}]})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def wait_port(port, timeout=10.0):
    """Waits until something accepts connections on the port (a proxy with no health route)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except FileNotFoundError:
            pass
    return total / CLK_TCK


def status_mb(pid, field):
    """A memory figure from /proc/PID/status (reported in kB), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid):
    return status_mb(pid, "VmHWM")


def rss_mb(pid):
    return status_mb(pid, "VmRSS")


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]



def build():
    subprocess.run(["cargo", "build", "--release", "--bin", "ecoroute", "--example", "mock_upstream", "--example", "min_proxy"],
                   cwd=ROOT, check=True)


def start_mock(port, stream_gap_ms=50):
    return subprocess.Popen([os.path.join(ROOT, "target/release/examples/mock_upstream"), f"127.0.0.1:{port}", str(stream_gap_ms)],
                            stderr=subprocess.DEVNULL)


def start_ecoroute(tmp, port, mock_port, edit=None, name="bench", profile="release", binary=None, env=None):
    """ecoroute with config/ecoroute.toml, listening on `port`, the LLM at the mock, its ledger in `tmp`
    (`edit` changes the config text first; `profile` picks target/release or target/debug; `binary`
    runs another build instead; `env` adds environment variables)."""
    config = os.path.join(tmp, f"{name}.toml")
    with open(os.path.join(ROOT, "config/ecoroute.toml")) as f:
        text = f.read()
    text = text.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{port}"')
    text = text.replace('base_url = "https://api.openai.com/v1"', f'base_url = "http://127.0.0.1:{mock_port}/v1"')
    text = text.replace('path = "data/ledger.sqlite"', f'path = "{tmp}/{"ledger" if name == "bench" else name}.sqlite"')
    text = text.replace('index_dir = "data/index"', f'index_dir = "{ROOT}/data/index"')
    text = text.replace('corpus = "corpus/default.jsonl.gz"', f'corpus = "{ROOT}/corpus/default.jsonl.gz"')
    if edit:
        text = edit(text)
    with open(config, "w") as f:
        f.write(text)
    eco = subprocess.Popen([binary or os.path.join(ROOT, f"target/{profile}/ecoroute"), "serve", "--config", config],
                           cwd=ROOT, stderr=open(os.path.join(tmp, f"{name}.log"), "w"),
                           env={**os.environ, "RUST_LOG": "warn", **(env or {})})
    wait_http(f"http://127.0.0.1:{port}/readyz")
    return eco


def stop_all(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
