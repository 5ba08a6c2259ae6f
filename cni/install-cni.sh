#!/bin/sh
# Installs the plugin and its network configuration on a node: the chart's install-cni
# init container runs this file of the image against the node's CNI directories,
# mounted into the container.
#
#   install-cni.sh --bundle DIR --conflist FILE --bin-dir DIR --conf-dir DIR [--requires PLUGIN]...
#
# --bundle     what cni/host-bundle.sh made: ID, the wrapper `twill`, files/
# --conflist   the network configuration, installed under its own file name
# --bin-dir    the node's CNI bin directory; --conf-dir, its network configuration directory
# --requires   a plugin the conflist chains, which must already be on the node
#
# Every file is written under a hidden temporary name and renamed, so a runtime never
# reads half a file: the plugin's files under their build ID first, the wrapper that
# runs them next, then older builds go, and the conflist comes last, so a runtime that
# finds Twill's configuration also finds a plugin that works.
set -eu

usage() {
  echo "usage: install-cni.sh --bundle DIR --conflist FILE --bin-dir DIR --conf-dir DIR [--requires PLUGIN]..." >&2
  exit 2
}

bundle='' conflist='' bin='' conf='' requires=''
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --bundle) bundle="$2" ;;
    --conflist) conflist="$2" ;;
    --bin-dir) bin="$2" ;;
    --conf-dir) conf="$2" ;;
    --requires) requires="$requires $2" ;;
    *) usage ;;
  esac
  shift 2
done
[ -n "$bundle" ] && [ -n "$conflist" ] && [ -n "$bin" ] && [ -n "$conf" ] || usage

for plugin in $requires; do
  if [ ! -x "$bin/$plugin" ]; then
    echo "install-cni: the conflist chains $plugin, but the node's CNI bin directory (mounted at $bin) has no $plugin: install the CNI reference plugins on the node, or stop chaining it (cni.$plugin=false)" >&2
    exit 1
  fi
done
for file in "$bundle/ID" "$bundle/twill" "$conflist"; do
  if [ ! -f "$file" ]; then
    echo "install-cni: $file is missing: this image was not built by agent/Dockerfile" >&2
    exit 1
  fi
done

id="$(cat "$bundle/ID")"
if [ ! -d "$bin/twill.d/$id" ]; then
  mkdir -p "$bin/twill.d"
  rm -rf "$bin/twill.d/.$id.tmp"
  cp -R "$bundle/files" "$bin/twill.d/.$id.tmp"
  mv "$bin/twill.d/.$id.tmp" "$bin/twill.d/$id"
fi
install -m 0755 "$bundle/twill" "$bin/.twill.tmp"
mv -f "$bin/.twill.tmp" "$bin/twill"
for old in "$bin/twill.d/"*; do
  [ "$old" = "$bin/twill.d/$id" ] || rm -rf "$old"
done

name="${conflist##*/}"
mkdir -p "$conf"
install -m 0644 "$conflist" "$conf/.$name.tmp"
mv -f "$conf/.$name.tmp" "$conf/$name"
echo "install-cni: installed $bin/twill (build $id) and $conf/$name"
