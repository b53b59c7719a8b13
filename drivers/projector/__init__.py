"""Projector and display drivers."""
