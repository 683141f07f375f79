# invois — the two commands a newcomer needs are `make run` and `make test`.
CARGO ?= cargo
SCALE ?= 100k
ENGINE ?= sqlite

.PHONY: run test check fmt clippy build release bench bench-peer crash-test fuzz-api attack clean

## run: the sandbox — builds, loads demo data into ./invois.db, prints a ready API key, serves on 127.0.0.1:8080
run:
	$(CARGO) run --release --bin invois -- serve --demo

## test: the whole test suite (unit + integration, one test binary for the API) on SQLite, then
## the API test binary again (no rebuild) on a throwaway PostgreSQL cluster (tests/pg/cluster.sh;
## skipped without PostgreSQL's server binaries, a failure with CI=true)
test:
	$(CARGO) test --all-targets
	bash tests/pg/cluster.sh --if-missing=skip --proof target/pg-run.proof $(CARGO) test --test api

## check: formatting, clippy with warnings as errors, and the tests (what CI runs)
check: fmt clippy test

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## bench: issue 15's realistic load benchmark, invois against PocketBase holding the same organizations,
## alternating, a fresh server per scenario (by id over all ids, ~3,000 and ~50,000 distinct search terms,
## random list pages, 90/10 mix, POST /users); SCALE=100k (default) or 1m; replaces the summary in
## bench/RESULTS.md. ENGINE=sqlite (default), postgres (a throwaway PostgreSQL cluster) or both;
## EXTRAS=1 adds the cached scenarios of earlier issues (labelled extras, into bench/HISTORY.md)
bench: release
	SCALE=$(SCALE) ENGINE=$(ENGINE) bash bench/run.sh

## bench-peer: extra, the older PocketBase comparison on a cached search mix (into bench/HISTORY.md)
bench-peer: release
	SCALE=$(SCALE) bash bench/peer.sh

## crash-test: kill -9 the server under concurrent writes many times and verify every acknowledged write
crash-test: release
	bash bench/crash.sh

## attack: peak RSS of a release build under a 60 s argon2 guessing attack and 2,000 slow uploads
attack: release
	bash bench/attack.sh

## fuzz-api: schemathesis against openapi.json of a running server (installs schemathesis from PyPI)
fuzz-api: release
	bash bench/fuzz-api.sh

clean:
	$(CARGO) clean
