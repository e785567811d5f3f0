"""Drives ecoroute's inbound keys and limits (#37) with the official `openai` and `anthropic`
Python clients, as a team's app would: a good key works on both APIs, streaming too; a wrong key is
each SDK's AuthenticationError; a key over its rate limit is each SDK's RateLimitError.

Usage: python keys_smoke.py BASE_URL KEY LIMITED_KEY   (BASE_URL like http://127.0.0.1:PORT;
LIMITED_KEY allows one request a minute)
Exits non-zero on the first failed check.
"""
import sys

import anthropic
import openai

base, key, limited = sys.argv[1], sys.argv[2], sys.argv[3]
WRITING = [{"role": "user", "content": "Write a limerick about Lima"}]
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    checks += 1


def oai(api_key):
    return openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)


def claude(api_key):
    return anthropic.Anthropic(base_url=base, api_key=api_key, max_retries=0)


completion = oai(key).chat.completions.create(model="gpt-4o-mini", messages=WRITING)
check(completion.choices[0].message.content, "openai: a completion with a good key")
chunks = list(oai(key).chat.completions.create(model="gpt-4o-mini", messages=WRITING, stream=True))
check(any(c.choices and c.choices[0].delta.content for c in chunks), "openai: a stream with a good key")
message = claude(key).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=WRITING)
check(message.content[0].text, "anthropic: a message with a good key")

try:
    oai("sk-eco-wrong").chat.completions.create(model="gpt-4o-mini", messages=WRITING)
    check(False, "openai: a wrong key is refused")
except openai.AuthenticationError as e:
    check(e.status_code == 401 and e.code == "invalid_api_key", "openai: AuthenticationError, invalid_api_key")
try:
    claude("sk-eco-wrong").messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=WRITING)
    check(False, "anthropic: a wrong key is refused")
except anthropic.AuthenticationError as e:
    check(e.status_code == 401, "anthropic: AuthenticationError")

oai(limited).chat.completions.create(model="gpt-4o-mini", messages=WRITING)
try:
    oai(limited).chat.completions.create(model="gpt-4o-mini", messages=WRITING)
    check(False, "openai: over the limit is refused")
except openai.RateLimitError as e:
    check(int(e.response.headers["retry-after"]) > 0, "openai: RateLimitError with Retry-After")
try:
    claude(limited).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=WRITING)
    check(False, "anthropic: over the limit is refused")
except anthropic.RateLimitError as e:
    check(int(e.response.headers["retry-after"]) > 0, "anthropic: RateLimitError with Retry-After")

print(f"keys: {checks} checks passed")
