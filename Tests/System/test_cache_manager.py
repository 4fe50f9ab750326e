"""The cache-manager as a real process, driven by Python's gRPC stack: preload from the
environment, shards downloaded and resumed, the catalog kept across a restart."""
import hashlib
import os
import pathlib

import grpc
import pytest

from conftest import free_port, wait_serving

MODEL = pathlib.Path(os.environ.get("TESSERA_MODEL_DIR", pathlib.Path.home() / ".cache/tessera/models")) / "smollm2-135m.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def start(processes, store, env=None):
    port, http = free_port(), free_port()
    proc = processes.start("cache-manager", "--port", str(port), "--http-port", str(http), "--store-dir", str(store),
                           env=env)
    wait_serving(port, proc=proc)
    proc.port = port
    return proc


def download(api, pb, sha256, offset=0):
    chunks = list(api.DownloadShard(pb.DownloadShardRequest(shard_sha256=sha256, offset=offset), timeout=60))
    return chunks, b"".join(chunk.data for chunk in chunks)


@pytest.mark.skipif(not MODEL.exists(), reason="run scripts/fetch-model first")
def test_preload_shards_download_and_restart(stubs, processes, tmp_path):
    from tessera.v1 import cache_manager_pb2 as pb, cache_manager_pb2_grpc as rpc, common_pb2
    store = tmp_path / "store"
    proc = start(processes, store, env={"TESSERA_PRELOAD_MODELS": f" {MODEL} , "})
    with grpc.insecure_channel(f"127.0.0.1:{proc.port}") as channel:
        api = rpc.CacheManagerStub(channel)
        models = api.ListModels(pb.ListModelsRequest(), timeout=10).models
        assert [(m.model.name, m.model.sha256, m.layer_count) for m in models] == [("smollm2-135m", MODEL_SHA256, 30)]

        shard = api.GetShard(pb.GetShardRequest(layers=common_pb2.LayerRange(first=0, last=12)), timeout=60).shard
        assert shard.has_embedding and not shard.has_output
        chunks, data = download(api, pb, shard.sha256)
        assert len(data) == shard.size_bytes and hashlib.sha256(data).hexdigest() == shard.sha256
        assert data[:4] == b"GGUF" and all(c.total_size == shard.size_bytes for c in chunks)
        _, rest = download(api, pb, shard.sha256, offset=5_000_000)
        assert rest == data[5_000_000:]

        with pytest.raises(grpc.RpcError) as error:
            download(api, pb, shard.sha256, offset=shard.size_bytes + 1)
        assert error.value.code() == grpc.StatusCode.OUT_OF_RANGE
        with pytest.raises(grpc.RpcError) as error:
            api.GetShard(pb.GetShardRequest(model="nope", layers=common_pb2.LayerRange(first=0, last=1)), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as error:
            api.ImportModel(pb.ImportModelRequest(path=str(tmp_path / "missing.gguf")), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "cannot open" in error.value.details()

    processes.stop_all()
    assert proc.returncode == 0
    assert (store / "catalog.sqlite").exists() and (store / "shards" / f"{shard.sha256}.gguf").exists()

    proc = start(processes, store)  # no preload this time: the catalog remembers
    with grpc.insecure_channel(f"127.0.0.1:{proc.port}") as channel:
        api = rpc.CacheManagerStub(channel)
        manifest = api.GetModel(pb.GetModelRequest(), timeout=10)
        assert manifest.model.sha256 == MODEL_SHA256 and [s.sha256 for s in manifest.shards] == [shard.sha256]
