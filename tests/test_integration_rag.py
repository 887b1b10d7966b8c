"""Chunks as LangChain documents and LlamaIndex nodes, with the real packages and the network blocked."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

import readme_examples

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails (their tokenizers and data loaders download on first use)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts


@pytest.fixture
def chunks(cli, tmp_path):
    r = cli("doc", ROOT / "examples" / "sample.pdf", "--family", "qwen2.5-vl", "--from-output",
            ROOT / "examples" / "answers" / "qwen2.5-vl" / "sample-pdf", "--chunks", "--chunk-tokens", "60",
            "-o", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    return [json.loads(x) for x in (tmp_path / "out" / "sample.chunks.jsonl").read_text().splitlines()]


def test_langchain_documents_keep_text_ids_and_provenance_through_a_vector_store(chunks, no_network):
    pytest.importorskip("langchain_core", reason="langchain-core is not installed (pip install '.[langchain]')")
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_core.vectorstores import InMemoryVectorStore

    from vlparse.integrations.rag import to_langchain

    docs = to_langchain(chunks)
    assert [d.page_content for d in docs] == [c["text"] for c in chunks]
    assert [d.id for d in docs] == [c["id"] for c in chunks]
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
    assert store.add_documents(docs) == [c["id"] for c in chunks]
    [hit] = store.similarity_search(chunks[1]["text"], k=1)  # the deterministic embedding finds the same text
    assert hit.metadata["blocks"] == chunks[1]["blocks"] and hit.metadata["page"] == chunks[1]["pages"][0]
    assert hit.metadata["heading_path"] == " > ".join(chunks[1]["headings"])
    assert not no_network


def test_llamaindex_nodes_keep_provenance_out_of_the_embedded_text(chunks, no_network):
    pytest.importorskip("llama_index.core", reason="llama-index-core is not installed (pip install '.[llamaindex]')")
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import MetadataMode, NodeRelationship

    from vlparse.integrations.rag import to_llamaindex

    nodes = to_llamaindex(chunks)
    assert [n.node_id for n in nodes] == [c["id"] for c in chunks]
    assert nodes[1].metadata["blocks"] == chunks[1]["blocks"]
    embedded = nodes[1].get_content(metadata_mode=MetadataMode.EMBED)
    assert chunks[1]["text"] in embedded and "heading_path: Quarterly Report" in embedded
    assert "bbox" not in embedded and "bbox" not in nodes[1].get_content(metadata_mode=MetadataMode.LLM)
    assert nodes[1].relationships[NodeRelationship.PREVIOUS].node_id == nodes[0].node_id
    assert nodes[0].relationships[NodeRelationship.NEXT].node_id == nodes[1].node_id
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))
    found = index.as_retriever(similarity_top_k=len(nodes)).retrieve("revenue")
    assert {x.node.node_id for x in found} == {c["id"] for c in chunks}
    assert all(x.node.metadata["blocks"] for x in found)
    assert not no_network


def test_the_readme_example_runs(tmp_path, no_network, monkeypatch, capsys):
    pytest.importorskip("langchain_core", reason="langchain-core is not installed")
    pytest.importorskip("llama_index.core", reason="llama-index-core is not installed")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    [cmd] = readme_examples.blocks("RAG chunks", "bash")
    p = readme_examples.shell(cmd, tmp_path)
    assert p.returncode == 0, p.stderr
    [code] = readme_examples.blocks("RAG chunks", "python")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})  # in this process, where the network is blocked
    first = json.loads((tmp_path / "out" / "sample.chunks.jsonl").read_text().splitlines()[0])  # the CLI's, at 200
    assert capsys.readouterr().out.strip() == f"{' > '.join(first['headings'])} {first['blocks'][0]['bbox_pt']}"
