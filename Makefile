.PHONY: run test lint bench audit-deps

run:  ## Run the whole portal (PostgreSQL, Redis, simulated tenant, web, worker, beat)
	bash scripts/run.sh

test:  ## Run the whole test suite on throwaway PostgreSQL and Redis
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	bash scripts/bench.sh $(ARGS)

audit-deps:  ## Known vulnerabilities in uv.lock (uv audit against OSV; also run by `make test`)
	bash scripts/audit_deps.sh
