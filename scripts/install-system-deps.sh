#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (only those missing). Needs root or sudo.
set -euo pipefail
# Each line: <command that must exist> <Debian package providing it>
REQUIRED=(
  "git git"
  "pg_ctlcluster postgresql"  # PostgreSQL server for the ledger store tests (initdb, pg_ctl)
  "bwrap bubblewrap"          # the default sandbox backend (codor run, shell.exec, test.run)
  "nsenter util-linux"        # joins the sandbox's network namespace for the egress forwarder
  "npm npm"                   # installs the real MCP servers and test runners (Node.js)
  "go golang-go"              # `go test` output for the claim verifier's runner tests
  "cargo cargo"               # `cargo test` output for the claim verifier's runner tests
  "chromium chromium"         # headless browser for the dashboard tests (Playwright)
  "nats-server nats-server"   # JetStream server for the NATS ledger sink tests
)
missing=()
for entry in "${REQUIRED[@]}"; do
  cmd=${entry%% *}; pkg=${entry##* }
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
