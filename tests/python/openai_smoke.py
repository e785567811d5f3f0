"""Drives ecoroute with the official `openai` Python client, as a customer's app would.

Usage: python openai_smoke.py BASE_URL   (BASE_URL like http://127.0.0.1:PORT/v1)
Exits non-zero on the first failed check.
"""
import sys

import openai

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-client-key", max_retries=0)
LOOKUP = [{"role": "user", "content": "What is the capital of Peru?"}]
WRITING = [{"role": "user", "content": "Write a limerick about Lima"}]
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    checks += 1


raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=LOOKUP)
check(raw.headers.get("x-ecoroute-route") == "search", "lookup routed to search")
completion = raw.parse()
check("Lima" in completion.choices[0].message.content, "search answer mentions Lima")
check(completion.usage.total_tokens > 0, "search answer has usage")

stream = client.chat.completions.create(
    model="gpt-4o-mini", messages=LOOKUP, stream=True, stream_options={"include_usage": True}
)
pieces, usage = [], None
for chunk in stream:
    if chunk.choices:
        pieces.append(chunk.choices[0].delta.content or "")
    if chunk.usage:
        usage = chunk.usage
check("".join(pieces).startswith("The capital of Peru is Lima."), "streamed search answer")
check(usage is not None and usage.total_tokens > 0, "streamed usage chunk")

raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=WRITING)
check(raw.headers.get("x-ecoroute-route") == "llm", "writing routed to the LLM")
check(raw.parse().choices[0].message.content.startswith("There once was"), "LLM answer passed through")

text = "".join(
    (c.choices[0].delta.content or "")
    for c in client.chat.completions.create(model="gpt-4o-mini", messages=WRITING, stream=True)
    if c.choices
)
check(text.startswith("There once was a city called Lima"), "LLM stream passed through")

try:
    client.chat.completions.create(model="gpt-4o-mini", messages=[])
    check(False, "empty messages must be refused")
except openai.BadRequestError as e:
    check(e.status_code == 400, "400 maps to BadRequestError")

models = client.models.list()
check(models.data[0].id == "gpt-4o-mini", "models passthrough")

print(f"openai {openai.__version__}: {checks} checks passed")
