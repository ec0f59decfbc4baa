"""SUPERB emotion-recognition baseline: frozen upstream features (dumped once), weighted layer sum,
linear projection, mean pooling over time, linear classifier, cross-entropy."""

from torch import nn

from ser.nn.layer_sum import WeightedLayerSum
from ser.nn.pooling import make_pooling


class SuperbBaseline(nn.Module):
    def __init__(
        self,
        info: dict,
        feat: str = "ssl",
        proj_dim: int = 256,
        pooling: str = "mean",
        dropout: float = 0.0,
        layer_norm: bool = False,
    ):
        super().__init__()
        layout = info["feats"][feat]
        self.feat = feat
        self.num_layers, self.dim = layout["num_layers"], layout["dim"]
        # layer_norm: each layer normalised before the sum (s3prl's Featurizer option); Whisper's
        # hidden states carry a few dimensions hundreds of times larger than the rest.
        self.layer_sum = WeightedLayerSum(self.num_layers, layer_norm=layer_norm)
        self.proj = nn.Linear(self.dim, proj_dim)
        self.pool = make_pooling(pooling, proj_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(proj_dim, info["num_classes"])

    def logits(self, batch):
        x = batch[self.feat]
        b, t, _ = x.shape
        x = self.layer_sum(x.view(b, t, self.num_layers, self.dim))
        x = self.pool(self.proj(x), batch[f"{self.feat}_lens"])
        return self.classifier(self.dropout(x))

    def forward(self, batch):
        loss = nn.functional.cross_entropy(self.logits(batch), batch["emo"])
        return {"loss": loss}

    def predict(self, batch):
        return {"emo_logits": self.logits(batch)}

    def epoch_logs(self):
        return {"layer_weights": [round(w, 3) for w in self.layer_sum.layer_weights()]}
