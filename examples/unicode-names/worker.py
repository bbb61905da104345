"""Unicode character lookup by name words: a hot-mode worker speaking OpenWhisk's actionloop protocol.

Loads something expensive once: an index from every word of every character name in Unicode's first two planes
(letters, symbols, emoji: about 80,000 names, a second or so of CPU), then answers lookups for as long as it
is fed.

The protocol (wrapper's `framing: actionloop`, as OpenWhisk's actionloop proxy speaks it):
  - at start, with __OW_WAIT_FOR_ACK set, write {"ok": true} on fd 3 once ready, so init waits for the index;
  - read one JSON line per event on stdin: {"value": ..., "activation_id": ..., "deadline": ...};
  - write exactly one JSON line per event on fd 3: the answer;
  - stdout and stderr are the log (wrapper tags each line with the event's request id).
Standard library only, so it runs on Lambda's python3.12 runtime (or any Python 3.9+) as is.
"""

import json
import os
import sys
import time
import unicodedata

LIMIT = 20  # matches per answer
PLANES_END = 0x20000  # planes 0 and 1; the rest is mostly CJK ideographs named by their code point


def build_index():
    """word → code points whose name contains it; the expensive part, done once per process."""
    index = {}
    for code in range(PLANES_END):
        name = unicodedata.name(chr(code), "")
        for word in name.split():
            index.setdefault(word, []).append(code)
    return index


def lookup(index, query):
    """Characters whose name contains every word of the query, in code point order."""
    words = query.upper().replace("-", " ").split()
    if not words:
        return []
    found = set(index.get(words[0], ()))
    for word in words[1:]:
        found &= set(index.get(word, ()))
    return [{"char": chr(code), "code": f"U+{code:04X}", "name": unicodedata.name(chr(code))}
            for code in sorted(found)[:LIMIT]]


def main():
    started = time.monotonic()
    index = build_index()
    print(f"index of {len(index)} words built in {time.monotonic() - started:.2f} s", flush=True)
    answers = os.fdopen(3, "w", buffering=1)  # line-buffered: each answer leaves as soon as it is written
    if os.environ.get("__OW_WAIT_FOR_ACK"):
        answers.write('{"ok": true}\n')
    for line in sys.stdin:
        request = json.loads(line)
        query = request["value"]
        matches = lookup(index, query)
        print(f"{query!r}: {len(matches)} match(es)", flush=True)
        answers.write(json.dumps({"query": query, "matches": matches, "worker": os.getpid()},
                                 ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
