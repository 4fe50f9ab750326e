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
    # ImportModel reads only inside --import-dir (env TESSERA_IMPORT_DIRS): here, tmp_path.
    proc = start(processes, store, env={"TESSERA_PRELOAD_MODELS": f" {MODEL} , ", "TESSERA_IMPORT_DIRS": str(tmp_path)})
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
        with pytest.raises(grpc.RpcError) as error:  # outside the import directories: not even opened
            api.ImportModel(pb.ImportModelRequest(path="/etc/passwd"), timeout=10)
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED and "root:" not in error.value.details()

    processes.stop_all()
    assert proc.returncode == 0
    assert (store / "catalog.sqlite").exists() and (store / "shards" / f"{shard.sha256}.gguf").exists()

    proc = start(processes, store)  # no preload this time: the catalog remembers
    with grpc.insecure_channel(f"127.0.0.1:{proc.port}") as channel:
        api = rpc.CacheManagerStub(channel)
        manifest = api.GetModel(pb.GetModelRequest(), timeout=10)
        assert manifest.model.sha256 == MODEL_SHA256 and [s.sha256 for s in manifest.shards] == [shard.sha256]


def write_v1_catalog(store, model_path):
    """A catalog as the first schema left it (migration "v1: models and shards"), with the
    cost profile in its old shape: what a store from before the v2 migration holds."""
    import sqlite3
    store.mkdir(parents=True)
    (store / "shards").mkdir()
    db = sqlite3.connect(store / "catalog.sqlite")
    db.executescript("""
        CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
        INSERT INTO grdb_migrations VALUES ('v1: models and shards');
        CREATE TABLE "model" ("sha256" TEXT PRIMARY KEY NOT NULL, "name" TEXT NOT NULL UNIQUE,
            "path" TEXT NOT NULL, "file_size" INTEGER NOT NULL, "file_modified" DOUBLE NOT NULL,
            "profile" TEXT NOT NULL, "imported_at" DATETIME NOT NULL);
        CREATE TABLE "shard" ("sha256" TEXT PRIMARY KEY NOT NULL,
            "model_sha256" TEXT NOT NULL REFERENCES "model"("sha256") ON DELETE CASCADE,
            "first_layer" INTEGER NOT NULL, "last_layer" INTEGER NOT NULL, "size_bytes" INTEGER NOT NULL,
            "has_embedding" BOOLEAN NOT NULL, "has_output" BOOLEAN NOT NULL, "cut_at" DATETIME NOT NULL,
            UNIQUE ("model_sha256", "first_layer", "last_layer"));
        CREATE INDEX "shard_on_model_sha256" ON "shard"("model_sha256");
    """)
    stat = pathlib.Path(model_path).stat() if pathlib.Path(model_path).exists() else None
    old_profile = '{"architecture":"llama","layerCount":30,"embedding":{"weightBytes":30081024},"tiedOutput":true}'
    db.execute("INSERT INTO model VALUES (?, ?, ?, ?, ?, ?, ?)",
               (MODEL_SHA256, "smollm2-135m", str(model_path), stat.st_size if stat else 1,
                stat.st_mtime if stat else 0.0, old_profile, "2026-11-30 11:40:58.508"))
    db.commit()
    db.close()


@pytest.mark.skipif(not MODEL.exists(), reason="run scripts/fetch-model first")
def test_a_v1_catalog_is_profiled_again(stubs, processes, tmp_path):
    """A store written before the cost profile became the optimizer's opens, its model read
    again from the GGUF header; a model whose file is gone stops the service with the reason."""
    from tessera.v1 import cache_manager_pb2 as pb, cache_manager_pb2_grpc as rpc
    store = tmp_path / "store"
    write_v1_catalog(store, MODEL)
    proc = start(processes, store)
    with grpc.insecure_channel(f"127.0.0.1:{proc.port}") as channel:
        manifest = rpc.CacheManagerStub(channel).GetModel(pb.GetModelRequest(), timeout=10)
    assert manifest.model.sha256 == MODEL_SHA256 and manifest.layer_count == 30 and len(manifest.layers) == 30
    assert manifest.tied_output and manifest.embedding.weight_bytes == 30081024  # the Q8_0 table
    assert manifest.file_type == "Q4_1" and manifest.vocab_size == 49152

    lost = tmp_path / "lost"
    write_v1_catalog(lost, tmp_path / "moved-away.gguf")
    port, http = free_port(), free_port()
    failing = processes.start("cache-manager", "--port", str(port), "--http-port", str(http), "--store-dir", str(lost))
    assert failing.wait(timeout=30) == 1
    log = pathlib.Path(failing.log_path).read_text()
    assert "must be profiled again" in log and "moved-away.gguf" in log
