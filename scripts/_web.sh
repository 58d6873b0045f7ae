# Sourced by scripts/serve and scripts/test after _bootstrap.sh (so the cwd is the repository
# root): make sure web/dist is a build of the current web/ sources. Runs `npm ci` when
# web/package-lock.json changed since the last install, and the build when any web source
# changed since the last build, each behind a stamp (a digest), as _bootstrap.sh does for pip.

web_digest() {
    # every file that goes into the build, by name and content (node_modules and dist aside)
    (cd web && find . -path ./node_modules -prune -o -path ./dist -prune -o -type f \
        ! -name '.build-stamp' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
        sha256sum | cut -d' ' -f1
}

if [[ -f web/package.json ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "web: npm is not installed; the web app needs Node.js 20 and npm" >&2
        exit 1
    fi
    lock="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
    if [[ "$(cat web/node_modules/.wagerbase-installed 2>/dev/null || true)" != "$lock" ]]; then
        echo "web: installing the web app's packages (npm ci)"
        (cd web && npm ci --no-audit --no-fund --loglevel=error)
        echo "$lock" >web/node_modules/.wagerbase-installed
    fi
    wanted="$(web_digest)"
    if [[ ! -f web/dist/index.html || "$(cat web/.build-stamp 2>/dev/null || true)" != "$wanted" ]]; then
        echo "web: building the web app (npm run build)"
        (cd web && npm run --silent build >/dev/null)
        echo "$wanted" >web/.build-stamp
    fi
fi
