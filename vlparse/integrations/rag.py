"""Chunks as LangChain and LlamaIndex documents (the ``rag`` extra: ``langchain`` / ``llamaindex``).

The chunking is :mod:`vlparse.export.chunks` (``vlparse.Document.chunks()``, ``vlparse doc --chunks``); these
adapters only change the container and keep the provenance in the metadata:

- ``chunk_id``, ``source``, ``index``, ``headings`` (list) and ``heading_path`` (``"A > B"``),
  ``page`` (the first page) and ``pages``, ``tokens`` and ``token_count`` (how they were counted),
  ``blocks`` (page, type, ``bbox_px``, ``bbox_pt`` of every block the chunk came from).

LlamaIndex puts metadata into the text it embeds and sends to the LLM unless told otherwise: only
``heading_path`` and ``source`` go there; the boxes stay out.
"""

from __future__ import annotations

from typing import Any, Iterable

from vlparse.core.errors import ModelError
from vlparse.export.chunks import Chunk

__all__ = ["chunk_metadata", "to_langchain", "to_llamaindex"]


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    pages = chunk.pages
    return {"chunk_id": chunk.id, "source": chunk.source, "index": chunk.index, "headings": list(chunk.headings),
            "heading_path": " > ".join(chunk.headings), "page": pages[0] if pages else None, "pages": pages,
            "tokens": chunk.tokens, "token_count": chunk.token_count, "oversize": chunk.oversize,
            "blocks": [dict(b) for b in chunk.blocks]}


def _chunks(items: Iterable[Chunk | dict[str, Any]]) -> list[Chunk]:
    return [c if isinstance(c, Chunk) else Chunk.from_dict(c) for c in items]


def to_langchain(chunks: Iterable[Chunk | dict[str, Any]]) -> list:
    """``langchain_core.documents.Document`` per chunk (``id`` = the chunk id). Takes chunks or their JSONL dicts."""
    try:
        from langchain_core.documents import Document
    except ImportError as e:
        raise ModelError(f"the LangChain adapter needs langchain-core (pip install 'vlparse[langchain]'): {e}") from None
    return [Document(page_content=c.text, metadata=chunk_metadata(c), id=c.id) for c in _chunks(chunks)]


def to_llamaindex(chunks: Iterable[Chunk | dict[str, Any]]) -> list:
    """``llama_index.core.schema.TextNode`` per chunk (``id_`` = the chunk id), linked previous/next in order."""
    try:
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
    except ImportError as e:
        raise ModelError(f"the LlamaIndex adapter needs llama-index-core (pip install 'vlparse[llamaindex]'): {e}"
                         ) from None
    items = _chunks(chunks)
    nodes = []
    for c in items:
        meta = chunk_metadata(c)
        hidden = [k for k in meta if k not in ("heading_path", "source")]
        nodes.append(TextNode(id_=c.id, text=c.text, metadata=meta, excluded_embed_metadata_keys=hidden,
                              excluded_llm_metadata_keys=hidden))
    for a, b in zip(nodes, nodes[1:]):
        if a.metadata["source"] == b.metadata["source"]:
            a.relationships[NodeRelationship.NEXT] = RelatedNodeInfo(node_id=b.node_id)
            b.relationships[NodeRelationship.PREVIOUS] = RelatedNodeInfo(node_id=a.node_id)
    return nodes
