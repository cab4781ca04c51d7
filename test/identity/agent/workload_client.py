"""A second-language SPIFFE Workload API client for the agent tests (Debian python3-grpcio).

Usage: workload_client.py <socket path> <dir with workload_pb2*.py> <x509|x509-noheader|bundles|wit>
Prints one JSON line: {"ok": true, ...} or {"ok": false, "code": "<StatusCode name>", "details": "..."}.
"""
import json
import sys

sock, gen_dir, mode = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, gen_dir)

import grpc  # noqa: E402
import workload_pb2  # noqa: E402
import workload_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel("unix://" + sock)
stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)
header = [] if mode == "x509-noheader" else [("workload.spiffe.io", "true")]
try:
    if mode in ("x509", "x509-noheader"):
        resp = next(stub.FetchX509SVID(workload_pb2.X509SVIDRequest(), metadata=header, timeout=10))
        out = {
            "ok": True,
            "svids": [
                {
                    "spiffe_id": s.spiffe_id,
                    "x509_svid": s.x509_svid.hex(),
                    "x509_svid_key": s.x509_svid_key.hex(),
                    "bundle": s.bundle.hex(),
                    "hint": s.hint,
                }
                for s in resp.svids
            ],
            "federated_bundles": sorted(resp.federated_bundles.keys()),
        }
    elif mode == "bundles":
        resp = next(stub.FetchX509Bundles(workload_pb2.X509BundlesRequest(), metadata=header, timeout=10))
        out = {"ok": True, "bundles": sorted(resp.bundles.keys())}
    elif mode == "wit":
        next(stub.FetchWITSVID(workload_pb2.WITSVIDRequest(), metadata=header, timeout=10))
        out = {"ok": True}
    else:
        raise SystemExit("unknown mode " + mode)
except grpc.RpcError as e:
    out = {"ok": False, "code": e.code().name, "details": e.details()}
print(json.dumps(out))
