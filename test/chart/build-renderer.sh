#!/usr/bin/env bash
# Builds test/chart/render (a `helm template` stand-in, see main.go) into OUTPUT, default
# dist/test/chart-render, from Debian's Go packages (golang-go, golang-github-masterminds-
# sprig-dev, golang-k8s-sigs-yaml-dev) in GOPATH mode: no module download, no network.
#
# The source is copied into a scratch GOPATH under dist/ with a go.mod beside it: Go
# resolves sprig's and semver's /v3 import paths in GOPATH mode only for code that sits
# in a GOPATH and has a go.mod ("minimal module compatibility").
set -euo pipefail
cd "$(dirname "$0")/../.."

output=$(realpath -m "${1:-dist/test/chart-render}")
if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/github.com/Masterminds/sprig ] || [ ! -d /usr/share/gocode/src/sigs.k8s.io/yaml ]; then
  echo "chart renderer: Go or its libraries are missing; install them with: apt-get install golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev" >&2
  exit 1
fi

work=dist/test/chart-render.build
package=$work/gopath/src/twill-chart-render
rm -rf "$package"
mkdir -p "$package" "$(dirname "$output")"
cp test/chart/render/*.go "$package/"
printf 'module twill-chart-render\n\ngo 1.19\n' > "$package/go.mod"

export GO111MODULE=off GOPATH="$PWD/$work/gopath:/usr/share/gocode"
export GOCACHE="$PWD/$work/cache"
(cd "$work/gopath" && go build -trimpath -o "$output.tmp.$$" twill-chart-render)
mv -f "$output.tmp.$$" "$output"
