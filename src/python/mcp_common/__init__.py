"""Shared building blocks of every MCP service: settings, logging, telemetry, health.

This package never imports a service package; services depend on it, not the reverse.
"""
