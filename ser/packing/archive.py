"""The archive: a zip holding `manifest.json` (format version, system, classes, folds, members and
their fusion weights and priors, upstream checkpoints), per member and fold `config.json`,
`info.json`, `features.json` (the feature recipe of every store the model reads),
`normalisation.json` and `model.pt` (the state dict, or a closed-form model's arrays), the
system's `RESULTS.md`, and small upstream checkpoints under `upstreams/<sha256>/`.

Nothing is unpickled on loading: JSON, and `torch.load(weights_only=True)` for the weights."""

import io
import json
import zipfile
from pathlib import Path

import torch

from ser import __version__
from ser.packing.checkpoints import cache_dir, checkpoint_sha256, resolve_checkpoint
from ser.utils import SerError, atomic_path

FORMAT = "ser-pack"
FORMAT_VERSION = 1  # bump when an older reader could misread a newer archive


def write_archive(out, manifest: dict, files: dict) -> None:
    """files: {name in the archive: bytes or a local path}; written under a temporary name."""
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "ser_version": __version__, **manifest}
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
        for name, content in files.items():
            if isinstance(content, (bytes, str)) and not isinstance(content, Path):
                z.writestr(name, content)
            else:
                z.write(content, name)


class Archive:
    """An opened archive: its manifest, members' JSON files and weights, and checkpoint paths."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise SerError(f"packed model {self.path} not found (stage 5 of a recipe, or ser.bin.pack, makes one)")
        try:
            self.zip = zipfile.ZipFile(self.path)
            self.manifest = json.loads(self.zip.read("manifest.json"))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
            raise SerError(f"{self.path} is not a packed model ({e}); make one with python -m ser.bin.pack") from None
        m = self.manifest
        if m.get("format") != FORMAT:
            raise SerError(f"{self.path}: format '{m.get('format')}', not a {FORMAT} archive")
        if m.get("format_version") != FORMAT_VERSION:
            raise SerError(
                f"{self.path}: archive format version {m.get('format_version')} (written by ser-recipes "
                f"{m.get('ser_version')}), but this ser-recipes {__version__} reads version {FORMAT_VERSION}: "
                "install the ser-recipes version that wrote it, or pack the system again with this one "
                "(python -m ser.bin.pack, or the recipe's stage 5)"
            )

    def json(self, name: str):
        return json.loads(self.zip.read(name))

    def text(self, name: str) -> str:
        return self.zip.read(name).decode()

    def weights(self, name: str) -> dict:
        return torch.load(io.BytesIO(self.zip.read(name)), map_location="cpu", weights_only=True)

    def checkpoint(self, sha: str, given: dict) -> str:
        """Local path of checkpoint `sha`: unpacked from the archive when it travels with it, else
        found on this machine (resolve_checkpoint, which names what is missing)."""
        ref = self.manifest["checkpoints"][sha]
        if not ref.get("embedded") or given.get(ref["upstream"]):
            return resolve_checkpoint(ref, given)
        dest = cache_dir() / sha
        root = dest / ref["name"]
        if not (dest / ".done").is_file() or checkpoint_sha256(root) != sha:
            prefix = f"upstreams/{sha}/"
            for name in self.zip.namelist():
                if name.startswith(prefix):
                    target = dest / name[len(prefix) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(target) as tmp:
                        Path(tmp).write_bytes(self.zip.read(name))
            if checkpoint_sha256(root) != sha:
                raise SerError(f"{self.path}: the embedded {ref['upstream']} checkpoint is corrupt (checksum differs)")
            (dest / ".done").write_text(sha + "\n")
        return str(root)
