#!/usr/bin/env python3
"""Summary of a schemathesis NDJSON report: requests sent, status codes, failed checks."""
import collections
import glob
import json
import sys

rep = sys.argv[1]
files = sorted(glob.glob(f"{rep}/*.ndjson"))
if not files:
    sys.exit(f"no NDJSON report in {rep}")
requests, by_status, fivexx = 0, collections.Counter(), collections.Counter()
checks, failures = collections.Counter(), collections.defaultdict(set)
errors, ops = [], set()
for line in open(files[-1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if "NonFatalError" in ev:
        v = ev["NonFatalError"].get("value", {})
        errors.append(f"{ev['NonFatalError'].get('label')}: {v.get('type')}: {v.get('message', '').strip()}")
    sf = ev.get("ScenarioFinished")
    if not sf:
        continue
    rec = sf.get("recorder", {})
    label = rec.get("label", "?")
    for i in rec.get("interactions", {}).values():
        requests += 1
        ops.add(label)
        code = (i.get("response") or {}).get("status_code")
        by_status[code] += 1
        if code and code >= 500:
            fivexx[label] += 1
    for results in rec.get("checks", {}).values():
        for c in results:
            checks[(c.get("name"), c.get("status"))] += 1
            if c.get("status") == "failure":
                msg = (c.get("failure_info") or {}).get("failure", {}) or c
                failures[(label, c.get("name"))].add(json.dumps(msg, sort_keys=True)[:300])
print(f"  requests sent: {requests} to {len(ops)} operations")
print("  status codes: " + ", ".join(f"{k}×{v}" for k, v in sorted(by_status.items(), key=lambda kv: str(kv[0]))))
print(f"  5xx responses: {sum(fivexx.values())}" + ("" if not fivexx else " — " + ", ".join(f"{k} ×{v}" for k, v in fivexx.items())))
for name in sorted({n for n, _ in checks}):
    ok, bad = checks[(name, "success")], checks[(name, "failure")]
    print(f"  check {name}: {ok} passed, {bad} failed")
for (label, name), msgs in sorted(failures.items()):
    print(f"    FAILED {name} on {label}: {len(msgs)} distinct; e.g. {sorted(msgs)[0]}")
for e in errors:
    print(f"  error: {e}")
