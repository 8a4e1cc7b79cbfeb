"""Durable background jobs: status by polling and by Server-Sent Events."""
