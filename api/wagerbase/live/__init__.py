"""Live updates: the hub (one LISTEN per node) and the socket protocols built on it."""
