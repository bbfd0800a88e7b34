"""Where the gap model's artifacts live (models/ at the top of the checkout)."""

from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent.parent.parent / "models"
MODEL_VERSION = "1"
MODEL_NAME = f"gaps-{MODEL_VERSION}"


def skops_path(model_dir: Path | None = None) -> Path:
    return (model_dir or MODEL_DIR) / f"{MODEL_NAME}.skops"


def compiled_paths(model_dir: Path | None = None) -> tuple[Path, Path]:
    base = model_dir or MODEL_DIR
    return base / f"{MODEL_NAME}.inference.json", base / f"{MODEL_NAME}.inference.npz"
