#!/usr/bin/env bash
# Retrains the reader shipped in the binary (models/reader.json): weights fitted on train, the
# threshold chosen on dev for 98% precision (by gold containment): on nine blind test sets read by
# hand, a threshold chosen for 97% on dev kept about 95-96%, so dev asks one point more. The test sets
# (training/reader/*_test.jsonl) are not read here: they are scored once, with `ecoroute eval --answers`.
# typed_dev and typed_blind_dev were test sets, each scored once, and are dev sets since.
# The questions written as chatbot users type them are read five times (sentence_style three,
# real_chat_train more, by --chat-weight as well): NQ/TriviaQA rows outnumber them twenty to one.
# On dev (a threshold chosen for 97% on one random half, answers counted on the other, 50 splits)
# this answered 174.7 per half against 168.2 read three times and 145.7 read once.
# The earlier test sets (everyday_test..everyday_test11, chat_test5..chat_test12), each scored once
# in its session and read since, are training data, read twice (the first fifteen from session 9:
# on dev this answered 204.5 per half against 198.0 without them; the four of sessions 9 and 10
# from session 11). The sets written for session 11 (everyday_test12, chat_test13) are the test.
# `python3 scripts/split_half.py DUMP` gives the split-half figure from `--dump DUMP`.
set -euo pipefail
cd "$(dirname "$0")/.."
earlier=()
for set in everyday_test everyday_test{2..11} chat_test{5..12}; do
  earlier+=(--input "training/reader/$set.jsonl")
done
cargo run --release -- train-reader \
  --input training/train.jsonl \
  --input training/reader/real_chat_train.jsonl \
  --input training/reader/synthetic_train.jsonl \
  --input training/reader/typed_train.jsonl \
  --input training/reader/sentence_style_train.jsonl \
  --input training/reader/everyday_train2.jsonl \
  --input training/reader/everyday_train2.jsonl \
  --input training/reader/typed_train.jsonl \
  --input training/reader/real_chat_train.jsonl \
  --input training/reader/everyday_train2.jsonl \
  --input training/reader/typed_train.jsonl \
  --input training/reader/everyday_train2.jsonl \
  --input training/reader/everyday_train2.jsonl \
  --input training/reader/typed_train.jsonl \
  --input training/reader/typed_train.jsonl \
  --input training/reader/sentence_style_train.jsonl \
  --input training/reader/sentence_style_train.jsonl \
  "${earlier[@]}" "${earlier[@]}" \
  --dev training/chatbot_lookups.jsonl \
  --dev training/chatbot_lookups_heldout.jsonl \
  --dev training/reader/real_chat_dev.jsonl \
  --dev training/reader/typed_dev.jsonl \
  --dev training/reader/typed_blind_dev.jsonl \
  --precision 0.98 \
  "${@:---output=models/reader.json}"
