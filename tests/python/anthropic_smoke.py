"""Drives ecoroute with the official `anthropic` Python client, as a customer's app would.

Usage: python anthropic_smoke.py BASE_URL   (BASE_URL like http://127.0.0.1:PORT, without /v1:
the SDK adds it)
Exits non-zero on the first failed check.
"""
import sys

import anthropic

client = anthropic.Anthropic(base_url=sys.argv[1], api_key="sk-ant-client-key", max_retries=0)
LOOKUP = [{"role": "user", "content": "What is the capital of Peru?"}]
WRITING = [{"role": "user", "content": "Write a limerick about Lima"}]
MODEL = "claude-sonnet-4-5"
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    checks += 1


raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=256, messages=LOOKUP)
check(raw.headers.get("x-ecoroute-route") == "search", "lookup routed to search")
message = raw.parse()
check(message.type == "message" and message.role == "assistant", "a message object")
check(message.content[0].type == "text", "a text block")
check(message.content[0].text.startswith("The capital of Peru is Lima."), "search answer")
check(message.stop_reason == "end_turn", "stop reason")
check(message.usage.input_tokens > 0 and message.usage.output_tokens > 0, "usage")

with client.messages.stream(model=MODEL, max_tokens=256, messages=LOOKUP) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
check(text.startswith("The capital of Peru is Lima."), "streamed search answer")
check(final.stop_reason == "end_turn" and final.usage.output_tokens > 0, "streamed final message")

events = [e.type for e in client.messages.create(model=MODEL, max_tokens=256, messages=LOOKUP, stream=True)]
check(events[0] == "message_start" and events[-1] == "message_stop", "raw stream events in order")

raw = client.messages.with_raw_response.create(
    model=MODEL, max_tokens=256, system="You are a poet.", messages=WRITING
)
check(raw.headers.get("x-ecoroute-route") == "llm", "writing routed to the LLM")
check(raw.parse().content[0].text.startswith("There once was"), "LLM answer passed through")

with client.messages.stream(model=MODEL, max_tokens=256, messages=WRITING) as stream:
    text = "".join(stream.text_stream)
check(text.startswith("There once was a city called Lima"), "LLM stream passed through")

try:
    client.messages.create(model=MODEL, max_tokens=256, messages=[])
    check(False, "empty messages must be refused")
except anthropic.BadRequestError as e:
    check(e.status_code == 400, "400 maps to BadRequestError")
    check(e.body["error"]["type"] == "invalid_request_error", "Anthropic's error shape")

print(f"anthropic {anthropic.__version__}: {checks} checks passed")
