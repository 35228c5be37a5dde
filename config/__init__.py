"""Typed environment config: the public interface of an environment file.

config composes: it parses an environment file into the settings (settings/) of each service, whose
runtime (runtimes/) and load path (loads/) check it. Everything below config is imported eagerly here;
nothing below imports config (tests/test_import_graph.py).
"""

from __future__ import annotations

from config.environment import PROJECT, Environment, parse_environment
from config.loader import load_environment
from settings.problems import InvalidEnvironment, Problem

__all__ = ["PROJECT", "Environment", "InvalidEnvironment", "Problem", "load_environment", "parse_environment"]
