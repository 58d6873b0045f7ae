"""`python -m wagerbase.cli`: the `wagerbase` command under the name it had before it moved to
wagerbase.operations.cli. tests/serving.py starts nodes so, another checkout's too (bench/live.py
--node-python), and a checkout from before the move knows no other name; so does a console script
installed before pyproject.toml named the new one, until it is reinstalled."""

from wagerbase.operations.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
