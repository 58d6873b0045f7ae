# Sourced by scripts/test after _apt.sh: the browser tests (tests/web) drive Debian's chromium.
# Install it when /usr/bin/chromium is missing.

if [[ ! -x /usr/bin/chromium ]]; then
    apt_install "the browser tests" chromium || exit 1
fi
