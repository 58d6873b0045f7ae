"""The API's surfaces, a package each: its routes, its request and answer structs, its error
ladder and the SQL it runs (in `.sql` files beside its modules: wagerbase.sql_files). What every
surface shares stays in wagerbase.http (HTTP) and wagerbase.live (the hub and the sockets'
machinery)."""
