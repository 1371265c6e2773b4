{
  "targets": [
    {
      "target_name": "berth_sendfile",
      "sources": ["src/sendfile.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-pthread"],
      "ldflags": ["-pthread"]
    }
  ]
}
