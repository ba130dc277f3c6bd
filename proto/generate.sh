#!/usr/bin/env bash
# Regenerates Sources/RRProto/rrvm.pb.swift from proto/rrvm.proto.
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift built from the swift-protobuf version
# Package.swift uses (swift build -c release --product protoc-gen-swift in a checkout of it); pass its
# path as PROTOC_GEN_SWIFT or put it on PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin=${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}
[ -x "$plugin" ] || { echo "generate.sh: protoc-gen-swift not found (set PROTOC_GEN_SWIFT)" >&2; exit 1; }
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public \
  --proto_path="$here" --swift_out="$here/../Sources/RRProto" "$here/rrvm.proto"
