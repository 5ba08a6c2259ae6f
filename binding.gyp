{
  "targets": [
    {
      "target_name": "tsbpf",
      "sources": [
        "bpf/tsbpf/src/addon.cc",
        "bpf/tsbpf/src/errors.cc",
        "bpf/tsbpf/src/object.cc",
        "bpf/tsbpf/src/fd.cc",
        "bpf/tsbpf/src/map.cc",
        "bpf/tsbpf/src/program.cc",
        "bpf/tsbpf/src/link.cc",
        "bpf/tsbpf/src/tc.cc",
        "bpf/tsbpf/src/netns.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "libraries": [
        "-lbpf",
        "-lelf",
        "-lz"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Wno-missing-field-initializers"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ]
    }
  ]
}
