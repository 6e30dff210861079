.PHONY: run test check lint bench audit-deps

run:  ## Run the whole portal (PostgreSQL, Redis, simulated tenant, web, worker, beat) under supervisord
	bash scripts/run.sh

test:  ## Run the whole test suite on throwaway PostgreSQL and Redis
	bash scripts/test.sh

check:  ## Static checks, as CI runs them: ruff check, ruff format --check, mypy
	bash scripts/check.sh

lint:  ## ruff only (a quick subset of `make check`)
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	bash scripts/bench.sh $(ARGS)

audit-deps:  ## Known vulnerabilities in uv.lock (uv audit against OSV; also run by `make test`)
	bash scripts/audit_deps.sh
