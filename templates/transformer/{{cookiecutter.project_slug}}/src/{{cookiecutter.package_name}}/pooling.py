"""A sequence classifier over the mean of the token states: the pooling sentence encoders are trained
with (all-MiniLM-L6-v2 and the other sentence-transformers models), where the [CLS] position and the
pooler on top of it were never trained for sentence meaning.

``pooling = "cls"`` in a fine-tuning config keeps ``AutoModelForSequenceClassification`` (the
architecture's own head, usually [CLS] + pooler); ``pooling = "mean"`` uses this class. Saved with
``save_pretrained``: the encoder as usual (config.json says ``"pooling": "mean"`` and carries the label
maps) plus ``classifier.safetensors`` for the head. `predict` and ``load_classifier`` read both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

HEAD_FILE = "classifier.safetensors"


def is_mean_pooled(path: str | Path) -> bool:
    """Whether the save_pretrained folder ``path`` holds a MeanPoolingClassifier."""
    import json

    config = Path(path) / "config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("pooling") == "mean"
    except (OSError, ValueError):
        return False


class MeanPoolingClassifier(nn.Module):
    """Encoder, masked mean over its last hidden states, dropout, one linear layer to the labels."""

    def __init__(self, encoder: Any, num_labels: int):
        super().__init__()
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # unused: it would leave DDP with parameters that get no gradient
        self.encoder, self.config = encoder, encoder.config
        self.config.pooling = "mean"
        hidden = self.config.hidden_size
        dropout = getattr(self.config, "classifier_dropout", None)
        if dropout is None:
            dropout = getattr(self.config, "hidden_dropout_prob", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)
        nn.init.normal_(self.classifier.weight, std=getattr(self.config, "initializer_range", 0.02))
        nn.init.zeros_(self.classifier.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **inputs: Any,
    ) -> Any:
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **inputs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = None if labels is None else nn.functional.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        self.encoder.save_pretrained(path)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.classifier.state_dict().items()},
                  str(Path(path) / HEAD_FILE))  # fmt: skip

    @classmethod
    def from_pretrained(
        cls, path: str | Path, num_labels: int | None = None, id2label: dict | None = None,
        label2id: dict | None = None,
    ) -> MeanPoolingClassifier:  # fmt: skip
        """An encoder (any AutoModel checkpoint: a sentence encoder, or a folder this class saved) with
        a head; the saved head is loaded when its label count matches, else a new one is made."""
        from transformers import AutoModel

        try:  # BERT-like models can skip building the pooler at all
            encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:
            encoder = AutoModel.from_pretrained(path)
        if id2label is not None:
            encoder.config.id2label = dict(id2label)
            encoder.config.label2id = dict(label2id or {v: k for k, v in id2label.items()})
        labels = num_labels or len(encoder.config.id2label)
        model = cls(encoder, labels)
        head = Path(path) / HEAD_FILE
        if head.is_file():
            from safetensors.torch import load_file

            weights = load_file(str(head))
            if weights["weight"].shape[0] == labels:
                model.classifier.load_state_dict(weights)
        return model
