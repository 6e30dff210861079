"""Fixtures for the Graph boundary (simulated tenant) and real Celery worker processes.

Registered as a plugin by tests/conftest.py so every test package can use them.
"""
