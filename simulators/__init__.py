"""Simulators: the device's side of each protocol, on the real kind of transport.

Written from the specifications on their own: nothing here imports drivers/,
controller/ or kiosk/, so a bug in a driver's codec cannot hide in its simulator.
"""
