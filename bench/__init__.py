"""Wagerbase benchmarks: pgbench's TPC-B and the engine's own workloads on one server.

Run them with `scripts/bench` (or `.venv/bin/python -m bench.run`); bench/README.md explains what
each scenario measures and how to read the numbers.
"""
