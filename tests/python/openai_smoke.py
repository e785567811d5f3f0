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

# The Responses API, which the SDKs now favour.
raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input="What is the capital of Peru?")
check(raw.headers.get("x-ecoroute-route") == "search", "responses: lookup routed to search")
response = raw.parse()
check(response.output_text.startswith("The capital of Peru is Lima."), "responses: search answer")
check(response.status == "completed" and response.usage.output_tokens > 0, "responses: status and usage")

follow_up = client.responses.create(
    model="gpt-4o-mini", previous_response_id=response.id, input="Write a poem about it"
)
check(follow_up.output_text.startswith("There once was"), "responses: follow-up of a search answer")
check(client.responses.retrieve(response.id).output_text == response.output_text, "responses: retrieve")

events = list(client.responses.create(model="gpt-4o-mini", input="What is the capital of Peru?", stream=True))
deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
check(deltas.startswith("The capital of Peru is Lima."), "responses: streamed search answer")
check(events[-1].type == "response.completed", "responses: stream ends completed")
check(events[-1].response.output_text == deltas, "responses: completed response carries the text")

with client.responses.stream(model="gpt-4o-mini", input="What is the capital of Peru?") as stream:
    for _ in stream:
        pass
    final = stream.get_final_response()
check(final.output_text.startswith("The capital of Peru is Lima."), "responses: accumulated search stream")

with client.responses.stream(model="gpt-4o-mini", input="Write a limerick about Lima") as stream:
    for _ in stream:
        pass
    final = stream.get_final_response()
check(final.output_text.startswith("There once was"), "responses: LLM stream passed through")

response = client.responses.create(
    model="gpt-4o-mini", instructions="Be brief.", input="Write a limerick about Lima"
)
check(response.output_text.startswith("There once was"), "responses: LLM answer passed through")

models = client.models.list()
check(models.data[0].id == "gpt-4o-mini", "models passthrough")

print(f"openai {openai.__version__}: {checks} checks passed")
