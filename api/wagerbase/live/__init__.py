"""Live updates: the hub (one reader of the event stream per worker) and the socket protocols
built on it."""
