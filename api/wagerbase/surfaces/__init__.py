"""The API's surfaces, one package each: what a family of clients speaks, over HTTP or a socket."""
