.PHONY: run test lint bench

run:  ## Run the whole portal (PostgreSQL, Redis, simulated tenant, web, worker, beat)
	bash scripts/run.sh

test:  ## Run the whole test suite on throwaway PostgreSQL and Redis
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	bash scripts/bench.sh $(ARGS)
