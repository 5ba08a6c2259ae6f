#!/usr/bin/env bash
# Packs the plugin so it runs on a node without Node.js: the plugin bundle, the node
# binary that runs it and the shared libraries node needs, beside a
# two-line wrapper named `twill` that the container runtime executes. glibc itself
# (libc, libm, libdl, libpthread, the loader) is the node's own: it cannot be mixed.
#
#   cni/host-bundle.sh OUT     (after npm run build)
#
# OUT/ID            a content hash naming this build
# OUT/twill         the wrapper, for <cni bin dir>/twill
# OUT/files/        for <cni bin dir>/twill.d/<ID>/: node, twill-cni, lib/*.so*
# The chart's install-cni copies files/ under its ID first and the wrapper last, so a
# runtime never runs a wrapper whose files are not all there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: cni/host-bundle.sh OUT}"
node_binary="$(command -v node)"

rm -rf "$out"
mkdir -p "$out/files/lib"
install -m 0755 "$node_binary" "$out/files/node"
install -m 0755 "$root/dist/twill-cni" "$out/files/twill-cni"

# Every library node links to, but glibc's own.
ldd "$node_binary" \
  | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' \
  | grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*)\.so' \
  | sort -u \
  | while read -r library; do install -m 0644 "$library" "$out/files/lib/"; done

id="$(cd "$out/files" && find . -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)"
echo "$id" > "$out/ID"
# ${0%/*} is the directory the runtime found the wrapper in (it runs plugins by path).
cat > "$out/twill" <<WRAPPER
#!/bin/sh
d="\${0%/*}/twill.d/$id"
LD_LIBRARY_PATH="\$d/lib" exec "\$d/node" "\$d/twill-cni" "\$@"
WRAPPER
chmod 0755 "$out/twill"
echo "host-bundle: $out (ID $id, $(ls "$out/files/lib" | tr '\n' ' '))"
