{
  "targets": [
    {
      "target_name": "trustmesh_native",
      "sources": ["src/sockopt.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
