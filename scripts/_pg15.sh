# Sourced by scripts/test after _apt.sh: the database suite runs a second time on PostgreSQL 15,
# what hosted Supabase runs (the embedded server is 18), with Debian's postgresql-15 programs
# (tests/conftest.py: WAGERBASE_TEST_PG_BIN). Installed when missing; its own cluster and service
# are not used: the tests start their servers on free ports.

PG15_BIN=/usr/lib/postgresql/15/bin
# the tests that need only a database (no API node, no browser, no cluster)
PG15_SUITE=(
    tests/db
    tests/test_migrate.py
    tests/supabase
    tests/attack/test_catalog.py
    tests/attack/test_least_privilege.py
    tests/attack/test_matrix_db.py
)

if [[ ! -x "$PG15_BIN/postgres" ]]; then
    apt_install "the PostgreSQL 15 run of the database tests" postgresql-15 || exit 1
fi
